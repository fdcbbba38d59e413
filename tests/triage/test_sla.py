from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from loopdesk.triage.sla import (
    DEFAULT_LEVELS,
    BusinessCalendar,
    LevelSla,
    SlaConfig,
    StageSla,
    due_at,
    elapsed,
    remaining,
    sla_status,
    sla_targets,
)

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
OFFICE = BusinessCalendar()  # Mon–Fri 09:00–18:00
H = timedelta(hours=1)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# 2024-05-03 is a Friday, 2024-05-06 the Monday after.
@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (sh(2024, 5, 3, 16), 4, sh(2024, 5, 6, 11)),  # Friday 16:00 + 4 working hours → Monday 11:00
        (sh(2024, 5, 3, 17), 1, sh(2024, 5, 3, 18)),  # ends exactly at closing time
        (sh(2024, 5, 3, 18), 1, sh(2024, 5, 6, 10)),  # starts at closing time
        (sh(2024, 5, 4, 12), 2, sh(2024, 5, 6, 11)),  # starts on a Saturday
        (sh(2024, 5, 6, 7), 1, sh(2024, 5, 6, 10)),  # starts before opening
        (sh(2024, 5, 6, 20), 1, sh(2024, 5, 7, 10)),  # starts after closing
        (sh(2024, 5, 6, 9), 24, sh(2024, 5, 8, 15)),  # 24 working hours = 9 + 9 + 6
        (sh(2024, 5, 3, 16), 0, sh(2024, 5, 3, 16)),
    ],
)
def test_business_hours_skip_nights_and_weekends(start, hours, expected):
    assert due_at(start, hours * H, calendar=OFFICE, tz=SHANGHAI) == expected


def test_holidays_are_skipped_and_make_up_workdays_count():
    # China's 2024 National Day: Oct 1–7 off, Sunday Sep 29 and Saturday Oct 12 are make-up workdays.
    golden_week = BusinessCalendar(
        holidays=frozenset(date(2024, 10, day) for day in range(1, 8)),
        extra_workdays=frozenset({date(2024, 9, 29), date(2024, 10, 12)}),
    )
    assert due_at(sh(2024, 9, 30, 17), 4 * H, calendar=golden_week, tz=SHANGHAI) == sh(2024, 10, 8, 12)
    assert due_at(sh(2024, 9, 28, 12), 2 * H, calendar=golden_week, tz=SHANGHAI) == sh(2024, 9, 29, 11)
    assert due_at(sh(2024, 10, 11, 17), 2 * H, calendar=golden_week, tz=SHANGHAI) == sh(2024, 10, 12, 10)
    # Without the calendar's help the same start lands in the holiday.
    assert due_at(sh(2024, 9, 30, 17), 4 * H, calendar=OFFICE, tz=SHANGHAI) == sh(2024, 10, 1, 12)


def test_custom_business_hours_and_weekdays():
    six_days = BusinessCalendar(workdays=frozenset(range(6)), start=time(8, 30), end=time(12, 30))
    # Friday 11:00–12:30 is 1.5 h, Saturday 08:30–12:00 the other 3.5 h.
    assert due_at(sh(2024, 5, 3, 11), 5 * H, calendar=six_days, tz=SHANGHAI) == sh(2024, 5, 4, 12)


@pytest.mark.parametrize(
    ("pauses", "expected"),
    [
        ([], utc(2024, 5, 6, 14)),
        ([(utc(2024, 5, 6, 11), utc(2024, 5, 6, 13))], utc(2024, 5, 6, 16)),
        # Overlapping and out-of-order pauses are merged: 11:00–14:00 in all.
        ([(utc(2024, 5, 6, 12), utc(2024, 5, 6, 14)), (utc(2024, 5, 6, 11), utc(2024, 5, 6, 13))], utc(2024, 5, 6, 17)),
        ([(utc(2024, 5, 6, 8), utc(2024, 5, 6, 9))], utc(2024, 5, 6, 14)),  # before the start: no effect
        ([(utc(2024, 5, 6, 9), utc(2024, 5, 6, 12))], utc(2024, 5, 6, 16)),  # started while paused
        ([(utc(2024, 5, 6, 14), utc(2024, 5, 6, 15))], utc(2024, 5, 6, 14)),  # pause right at the due time
    ],
)
def test_pauses_stop_the_clock(pauses, expected):
    assert due_at(utc(2024, 5, 6, 10), 4 * H, tz="UTC", pauses=pauses) == expected


def test_pauses_combine_with_business_hours():
    # Waiting for the customer from Friday 17:00 to Monday 10:00: Friday's last hour and Monday's first don't count.
    pause = (sh(2024, 5, 3, 17), sh(2024, 5, 6, 10))
    assert due_at(sh(2024, 5, 3, 16), 3 * H, calendar=OFFICE, tz=SHANGHAI, pauses=[pause]) == sh(2024, 5, 6, 12)


def test_pause_given_in_another_zone_is_the_same_instant():
    pause = (utc(2024, 5, 6, 3), utc(2024, 5, 6, 5))  # 11:00–13:00 in Shanghai
    assert due_at(sh(2024, 5, 6, 10), 4 * H, tz=SHANGHAI, pauses=[pause]) == sh(2024, 5, 6, 16)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (berlin(2024, 3, 30, 12), berlin(2024, 3, 31, 13)),  # spring forward: the day has 23 hours
        (berlin(2024, 10, 26, 12), berlin(2024, 10, 27, 11)),  # fall back: the day has 25 hours
        (berlin(2024, 3, 31, 1, 30), berlin(2024, 3, 31, 3, 30)),  # one real hour across the gap
    ],
)
def test_durations_are_real_elapsed_time_across_dst(start, expected):
    hours = 1 if start.hour == 1 else 24
    due = due_at(start, hours * H, tz=BERLIN)
    assert due == expected
    assert (due.year, due.month, due.day, due.hour, due.minute) == (
        expected.year,
        expected.month,
        expected.day,
        expected.hour,
        expected.minute,
    )
    assert due.astimezone(UTC) - start.astimezone(UTC) == hours * H


def test_wall_clock_days_across_dst_differ_from_24_hours():
    assert elapsed(berlin(2024, 3, 30, 12), berlin(2024, 3, 31, 12), tz=BERLIN) == 23 * H
    assert elapsed(berlin(2024, 10, 26, 12), berlin(2024, 10, 27, 12), tz=BERLIN) == 25 * H


def test_business_hours_keep_local_opening_times_across_dst():
    # Friday 17:00 CET + 2 working hours → Monday 10:00 CEST (the office opens at 09:00 local on both sides).
    assert due_at(berlin(2024, 3, 29, 17), 2 * H, calendar=OFFICE, tz=BERLIN) == berlin(2024, 4, 1, 10)
    assert due_at(berlin(2024, 10, 25, 17), 2 * H, calendar=OFFICE, tz=BERLIN) == berlin(2024, 10, 28, 10)
    assert elapsed(berlin(2024, 3, 29, 9), berlin(2024, 4, 1, 18), calendar=OFFICE, tz=BERLIN) == 18 * H


def test_shanghai_and_utc_clocks_give_different_due_times_for_the_same_start():
    start = utc(2024, 5, 3, 9)  # Friday 17:00 in Beijing, Friday 09:00 in UTC
    beijing_due = due_at(start, 2 * H, calendar=OFFICE, tz="Asia/Shanghai")
    utc_due = due_at(start, 2 * H, calendar=OFFICE, tz="UTC")
    assert beijing_due == sh(2024, 5, 6, 10) and beijing_due.tzinfo == SHANGHAI
    assert utc_due == utc(2024, 5, 3, 11) and utc_due.utcoffset() == timedelta(0)
    # Round the clock the instant is the same; only the wall time shown differs.
    assert due_at(start, 2 * H, tz="Asia/Shanghai") == due_at(start, 2 * H, tz="UTC")
    assert due_at(start, 2 * H, tz="Asia/Shanghai").hour == 19


@pytest.mark.parametrize(
    "call",
    [
        lambda: due_at(datetime(2024, 5, 6, 10), H, tz="UTC"),
        lambda: elapsed(utc(2024, 5, 6), datetime(2024, 5, 7), tz="UTC"),
        lambda: sla_status(datetime(2024, 5, 6), utc(2024, 5, 7), start=utc(2024, 5, 5)),
        lambda: due_at(utc(2024, 5, 6), H, pauses=[(datetime(2024, 5, 6), utc(2024, 5, 7))]),
        lambda: sla_targets("P0", "received", start=datetime(2024, 5, 6)),
    ],
)
def test_naive_datetimes_are_rejected(call):
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: due_at(utc(2024, 5, 6), -H), "negative"),
        (lambda: due_at(utc(2024, 5, 6), H, tz="Mars/Base"), "unknown time zone"),
        (lambda: due_at(utc(2024, 5, 6), H, pauses=[(utc(2024, 5, 7), utc(2024, 5, 6))]), "ends before"),
        (lambda: due_at(utc(2024, 5, 6), H, calendar=BusinessCalendar(workdays=frozenset())), "no working time"),
        (lambda: sla_status(utc(2024, 5, 6), utc(2024, 5, 7), start=utc(2024, 5, 5), at_risk_fraction=0), "fraction"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": time(18), "end": time(9)},
        {"workdays": frozenset({7})},
        {"holidays": frozenset({date(2024, 10, 1)}), "extra_workdays": frozenset({date(2024, 10, 1)})},
    ],
)
def test_invalid_calendars_are_rejected(kwargs):
    with pytest.raises(ValidationError):
        BusinessCalendar(**kwargs)


def test_elapsed_and_remaining_count_only_clock_time():
    start, due = sh(2024, 5, 3, 16), sh(2024, 5, 6, 11)
    assert elapsed(start, due, calendar=OFFICE, tz=SHANGHAI) == 4 * H
    assert elapsed(due, start, calendar=OFFICE, tz=SHANGHAI) == -4 * H
    assert remaining(sh(2024, 5, 4, 12), due, calendar=OFFICE, tz=SHANGHAI) == 2 * H  # the weekend costs nothing
    assert remaining(sh(2024, 5, 6, 13), due, calendar=OFFICE, tz=SHANGHAI) == -2 * H


@pytest.mark.parametrize(
    ("now", "fraction", "status"),
    [
        (utc(2024, 5, 6, 0), 0.8, "on_track"),
        (utc(2024, 5, 6, 7, 59), 0.8, "on_track"),
        (utc(2024, 5, 6, 8), 0.8, "at_risk"),  # 80 % of the 10 h budget used
        (utc(2024, 5, 6, 9, 59), 0.8, "at_risk"),
        (utc(2024, 5, 6, 10), 0.8, "breached"),
        (utc(2024, 5, 7), 0.8, "breached"),
        (utc(2024, 5, 6, 5), 0.5, "at_risk"),
        (utc(2024, 5, 6, 4), 0.5, "on_track"),
    ],
)
def test_status_moves_from_on_track_to_at_risk_to_breached(now, fraction, status):
    start = utc(2024, 5, 6, 0)
    due = due_at(start, 10 * H, tz="UTC")
    assert sla_status(now, due, start=start, tz="UTC", at_risk_fraction=fraction) == status


def test_status_uses_the_same_clock_as_the_due_time():
    start = sh(2024, 5, 3, 9)
    due = due_at(start, 18 * H, calendar=OFFICE, tz=SHANGHAI)  # two working days → Monday 18:00
    assert due == sh(2024, 5, 6, 18)
    # Monday 09:00: half the 18 working hours are used; round the clock 72 of 81 hours would be.
    assert sla_status(sh(2024, 5, 6, 9), due, start=start, calendar=OFFICE, tz=SHANGHAI) == "on_track"
    assert sla_status(sh(2024, 5, 6, 9), due, start=start, tz=SHANGHAI) == "at_risk"
    # A pause moves the due time; status then measures against the moved one.
    paused = [(sh(2024, 5, 6, 9), sh(2024, 5, 6, 18))]
    moved = due_at(start, 18 * H, calendar=OFFICE, tz=SHANGHAI, pauses=paused)
    assert moved == sh(2024, 5, 7, 18)
    assert sla_status(sh(2024, 5, 6, 17), moved, start=start, calendar=OFFICE, tz=SHANGHAI, pauses=paused) == "on_track"
    assert sla_status(sh(2024, 5, 7, 17), moved, start=start, calendar=OFFICE, tz=SHANGHAI, pauses=paused) == "at_risk"


@pytest.mark.parametrize(
    ("level", "response", "resolution"),
    [("P0", 1, 4), ("P1", 2, 24), ("P2", 4, 72), ("P3", 24, 168), ("P4", 24, 168)],
)
def test_default_level_targets_follow_the_seed(level, response, resolution):
    target = sla_targets(level, "received", start=utc(2024, 5, 6), tz="UTC")
    assert target.response_due == utc(2024, 5, 6) + response * H
    assert target.resolution_due == utc(2024, 5, 6) + resolution * H
    assert DEFAULT_LEVELS[level].response == response * H


@pytest.mark.parametrize(
    ("level", "stage", "hours"),
    [
        ("P2", "received", 1),
        ("P2", "analyzed", 4),
        ("P2", "plan_review", 24),
        ("P2", "in_progress", 72),  # 168 h stage, capped by P2's 72 h resolution
        ("P3", "in_progress", 168),
        ("P0", "plan_review", 4),  # a P0 cannot wait 24 h for plan review
        ("P4", "resolved", 48),
    ],
)
def test_stage_targets_come_from_the_stage_table_capped_by_resolution(level, stage, hours):
    target = sla_targets(level, stage, start=utc(2024, 5, 6), tz="UTC")
    assert target.stage_duration == hours * H
    assert target.stage_due == utc(2024, 5, 6) + hours * H


def test_stage_table_is_configurable():
    config = SlaConfig(
        stages={"triage": StageSla(max_duration=8 * H, per_level={"P0": 30 * timedelta(minutes=1)})},
        cap_stage_by_resolution=False,
    )
    started = utc(2024, 5, 6, 12)
    p0 = sla_targets("P0", "triage", config, start=utc(2024, 5, 6), stage_started=started)
    p2 = sla_targets("P2", "triage", config, start=utc(2024, 5, 6), stage_started=started)
    assert p0.stage_due == utc(2024, 5, 6, 12, 30)
    assert p2.stage_due == utc(2024, 5, 6, 20)
    assert p0.response_due == utc(2024, 5, 6, 1)  # response/resolution still count from the ticket's start
    with pytest.raises(ValueError, match="unknown stage"):
        sla_targets("P0", "received", config, start=started)


def test_targets_on_the_beijing_clock_with_business_hours():
    target = sla_targets("P1", "plan_review", start=sh(2024, 5, 3, 17), tz="Asia/Shanghai", calendar=OFFICE)
    assert target.timezone == "Asia/Shanghai"
    assert target.response_due == sh(2024, 5, 6, 10)
    assert target.resolution_due == sh(2024, 5, 8, 14)  # 24 working hours: Fri 1 + Mon 9 + Tue 9 + Wed 5
    assert target.stage_due == target.resolution_due


def test_sla_config_validation():
    with pytest.raises(ValidationError, match="levels missing"):
        SlaConfig(levels={"P0": DEFAULT_LEVELS["P0"]})
    with pytest.raises(ValidationError):
        LevelSla(response=5 * H, resolution=H)
    with pytest.raises(ValidationError):
        SlaConfig(at_risk_fraction=1.5)
    with pytest.raises(ValueError, match="unknown level"):
        sla_targets("P9", "received", start=utc(2024, 5, 6))  # type: ignore[arg-type]

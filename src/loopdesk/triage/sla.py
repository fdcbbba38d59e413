"""SLA clocks (seed §3.2, §3.3, §5.2): response / resolution targets per level, a maximum duration per workflow
stage, computed on the region's clock (Beijing time for domestic, UTC for international by default).

Durations are elapsed time, not wall-clock arithmetic: "+24 h" across a DST change lands 24 real hours later.
With a `BusinessCalendar` only its working hours count; `pauses` (e.g. waiting for the customer) never count.
Every datetime must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopdesk.triage.priority import LEVELS, Level

Status = Literal["on_track", "at_risk", "breached"]
Pause = tuple[datetime, datetime]

_MAX_CALENDAR_DAYS = 3 * 366  # a calendar with no working day in three years is a configuration error
_END_OF_TIME = datetime(9000, 1, 1, tzinfo=UTC)


class BusinessCalendar(BaseModel):
    """Working hours on the region's local clock; `extra_workdays` are make-up days (调休) that override weekends."""

    model_config = ConfigDict(frozen=True)

    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    start: time = time(9, 0)
    end: time = time(18, 0)
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @model_validator(mode="after")
    def _check(self) -> BusinessCalendar:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall times; give them without a timezone")
        if self.start >= self.end:
            raise ValueError("business hours must start before they end (overnight shifts are not supported)")
        if not self.workdays <= set(range(7)):
            raise ValueError("workdays are weekday numbers 0 (Monday) to 6 (Sunday)")
        if self.holidays & self.extra_workdays:
            raise ValueError("a date cannot be both a holiday and an extra workday")
        return self

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() in self.workdays and day not in self.holidays


def resolve_tz(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _merged(pauses: Iterable[Pause]) -> list[Pause]:
    spans = []
    for index, (begin, end) in enumerate(pauses):
        begin_utc, end_utc = _aware(begin, f"pauses[{index}] start"), _aware(end, f"pauses[{index}] end")
        if end_utc < begin_utc:
            raise ValueError(f"pauses[{index}] ends before it starts")
        spans.append((begin_utc, end_utc))
    spans.sort()
    merged: list[Pause] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    # fold=0 on ambiguous times; times inside a DST gap map past it, which is what a clock on the wall would show.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _windows(start: datetime, tz: tzinfo, calendar: BusinessCalendar | None) -> Iterator[Pause]:
    if calendar is None:
        yield start, _END_OF_TIME
        return
    day = start.astimezone(tz).date() - timedelta(days=1)  # the previous local day may still be open in UTC terms
    for _ in range(_MAX_CALENDAR_DAYS):
        if calendar.is_workday(day):
            opens, closes = _local(day, calendar.start, tz), _local(day, calendar.end, tz)
            if closes > start:
                yield max(opens, start), closes
        day += timedelta(days=1)
    raise ValueError(f"the business calendar has no working time within {_MAX_CALENDAR_DAYS} days")


def _counting(start: datetime, tz: tzinfo, calendar: BusinessCalendar | None, pauses: list[Pause]) -> Iterator[Pause]:
    """UTC intervals from `start` on during which the SLA clock runs, in order."""
    for opens, closes in _windows(start, tz, calendar):
        cursor = opens
        for begin, end in pauses:
            if end <= cursor:
                continue
            if begin >= closes:
                break
            if begin > cursor:
                yield cursor, begin
            cursor = max(cursor, end)
            if cursor >= closes:
                break
        if cursor < closes:
            yield cursor, closes


def due_at(
    start: datetime,
    duration: timedelta,
    *,
    calendar: BusinessCalendar | None = None,
    tz: str | tzinfo = "UTC",
    pauses: Iterable[Pause] = (),
) -> datetime:
    """The moment `duration` of counted time has passed since `start`, on the `tz` clock (`start` itself for 0)."""
    start_utc, zone = _aware(start, "start"), resolve_tz(tz)
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if duration == timedelta(0):
        return start_utc.astimezone(zone)
    left = duration
    for begin, end in _counting(start_utc, zone, calendar, _merged(pauses)):
        if end - begin >= left:
            return (begin + left).astimezone(zone)
        left -= end - begin
    raise ValueError("the SLA clock never accumulates enough time")  # only with a pause lasting to _END_OF_TIME


def elapsed(
    start: datetime,
    end: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    tz: str | tzinfo = "UTC",
    pauses: Iterable[Pause] = (),
) -> timedelta:
    """Counted time between two instants; negative when `end` is before `start`."""
    start_utc, end_utc, zone = _aware(start, "start"), _aware(end, "end"), resolve_tz(tz)
    if end_utc < start_utc:
        return -elapsed(end_utc, start_utc, calendar=calendar, tz=zone, pauses=pauses)
    total = timedelta(0)
    for begin, stop in _counting(start_utc, zone, calendar, _merged(pauses)):
        if begin >= end_utc:
            break
        total += min(stop, end_utc) - begin
    return total


def remaining(
    now: datetime,
    due: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    tz: str | tzinfo = "UTC",
    pauses: Iterable[Pause] = (),
) -> timedelta:
    """Counted time left until `due`; negative (counted overdue time) once it has passed."""
    return elapsed(now, due, calendar=calendar, tz=tz, pauses=pauses)


def sla_status(
    now: datetime,
    due: datetime,
    *,
    start: datetime,
    calendar: BusinessCalendar | None = None,
    tz: str | tzinfo = "UTC",
    pauses: Iterable[Pause] = (),
    at_risk_fraction: float = 0.8,
) -> Status:
    """breached once `now` reaches `due`; at_risk once `at_risk_fraction` of the start→due budget is used.

    Pass the calendar and pauses `due` was computed with (recompute `due` when a pause is added), else the budget
    is measured on a different clock than the deadline.
    """
    if not 0 < at_risk_fraction <= 1:
        raise ValueError("at_risk_fraction must be in (0, 1]")
    if _aware(now, "now") >= _aware(due, "due"):
        return "breached"
    pauses = list(pauses)
    budget = elapsed(start, due, calendar=calendar, tz=tz, pauses=pauses)
    left = elapsed(now, due, calendar=calendar, tz=tz, pauses=pauses)
    if budget <= timedelta(0) or left <= budget * (1 - at_risk_fraction):
        return "at_risk"
    return "on_track"


class LevelSla(BaseModel):
    model_config = ConfigDict(frozen=True)

    response: timedelta
    resolution: timedelta

    @model_validator(mode="after")
    def _check(self) -> LevelSla:
        if self.response <= timedelta(0) or self.resolution < self.response:
            raise ValueError("need 0 < response <= resolution")
        return self


class StageSla(BaseModel):
    """Maximum time in one workflow stage; `per_level` overrides it for given levels."""

    model_config = ConfigDict(frozen=True)

    max_duration: timedelta
    per_level: dict[Level, timedelta] = {}
    escalate: bool = True
    # "chat" is the region's team chat: DingTalk for domestic, Slack for international (seed §3.2).
    channels: tuple[str, ...] = ()

    def duration_for(self, level: Level) -> timedelta:
        return self.per_level.get(level, self.max_duration)


def _h(hours: int) -> timedelta:
    return timedelta(hours=hours)


# Seed §3.3; P4 keeps the seed's "P3/P4" row. Seed §5.2 for the stages, named as SystemAgentState.workflow_stage.
DEFAULT_LEVELS: dict[Level, LevelSla] = {
    "P0": LevelSla(response=_h(1), resolution=_h(4)),
    "P1": LevelSla(response=_h(2), resolution=_h(24)),
    "P2": LevelSla(response=_h(4), resolution=_h(72)),
    "P3": LevelSla(response=_h(24), resolution=_h(168)),
    "P4": LevelSla(response=_h(24), resolution=_h(168)),
}
DEFAULT_STAGES: dict[str, StageSla] = {
    "received": StageSla(max_duration=_h(1), channels=("websocket", "email")),
    "classified": StageSla(max_duration=_h(2), channels=("websocket", "email")),
    "analyzed": StageSla(max_duration=_h(4), channels=("websocket",)),
    "plan_review": StageSla(max_duration=_h(24), channels=("email", "chat")),
    "assigned": StageSla(max_duration=_h(72), channels=("email", "chat")),
    "in_progress": StageSla(max_duration=_h(168), channels=("email", "chat")),
    "resolved": StageSla(max_duration=_h(48), channels=("websocket", "email")),
}


class SlaConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    levels: dict[Level, LevelSla] = DEFAULT_LEVELS
    stages: dict[str, StageSla] = DEFAULT_STAGES
    # A stage cannot be given longer than the whole ticket's resolution target (a P0's plan review is not 24 h).
    cap_stage_by_resolution: bool = True
    at_risk_fraction: float = Field(0.8, gt=0, le=1)

    @field_validator("levels")
    @classmethod
    def _all_levels(cls, value: dict[Level, LevelSla]) -> dict[Level, LevelSla]:
        missing = [level for level in LEVELS if level not in value]
        if missing:
            raise ValueError(f"levels missing {missing}")
        return value


class SlaTarget(BaseModel):
    level: Level
    stage: str
    timezone: str
    response_due: datetime
    resolution_due: datetime
    stage_due: datetime
    stage_duration: timedelta


def sla_targets(
    level: Level,
    stage: str,
    config: SlaConfig | None = None,
    *,
    start: datetime,
    tz: str | tzinfo = "UTC",
    calendar: BusinessCalendar | None = None,
    pauses: Iterable[Pause] = (),
    stage_started: datetime | None = None,
) -> SlaTarget:
    """Response and resolution due from `start` (ticket creation); the stage's due from `stage_started` (or start)."""
    config = config or SlaConfig()
    if level not in config.levels:
        raise ValueError(f"unknown level {level!r}; expected one of {list(config.levels)}")
    if stage not in config.stages:
        raise ValueError(f"unknown stage {stage!r}; expected one of {list(config.stages)}")
    pauses = list(pauses)
    targets = config.levels[level]
    stage_duration = config.stages[stage].duration_for(level)
    if config.cap_stage_by_resolution:
        stage_duration = min(stage_duration, targets.resolution)
    zone = resolve_tz(tz)

    def due(begin: datetime, duration: timedelta) -> datetime:
        return due_at(begin, duration, calendar=calendar, tz=zone, pauses=pauses)

    return SlaTarget(
        level=level,
        stage=stage,
        timezone=str(getattr(zone, "key", zone)),
        response_due=due(start, targets.response),
        resolution_due=due(start, targets.resolution),
        stage_due=due(stage_started or start, stage_duration),
        stage_duration=stage_duration,
    )

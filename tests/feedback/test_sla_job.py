"""The SLA job against a real migrated database: tasks are written at chosen stages and times, then
`check_sla` runs at chosen instants. Each test's database is its own, so the job's commits stay in it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from loopdesk.core.db import Database
from loopdesk.core.settings import FeedbackSlaSettings
from loopdesk.feedback.models import Task, TaskEvent, Team
from loopdesk.feedback.sla_job import check_sla
from loopdesk.notifications.models import NotificationDelivery
from loopdesk.triage.sla import BusinessCalendar
from loopdesk.users.models import SYSTEM_USER_ID, User

T0 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday
CONFIG = FeedbackSlaSettings(_env_file=None)
HOURS = timedelta(hours=1)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.connect(database_url, pool_size=4, max_overflow=0)
    yield db
    await db.dispose()


@pytest.fixture
async def people(database: Database) -> dict[str, uuid.UUID]:
    """A reporter, an assignee, a team lead and the one admin (the migration's system account is not one)."""
    found = {}
    async with database.sessionmaker() as session, session.begin():
        for name, role in (("reporter", "customer"), ("assignee", "staff"), ("lead", "staff"), ("admin", "admin")):
            account = User(
                id=uuid.uuid4(), email=f"{name}@example.com", display_name=name, password_hash="!", role=role
            )
            session.add(account)
            found[name] = account.id
    return found


async def add_team(database: Database, *, lead: uuid.UUID | None) -> uuid.UUID:
    async with database.sessionmaker() as session, session.begin():
        team = Team(id=uuid.uuid4(), name=f"team-{uuid.uuid4().hex[:6]}", lead_id=lead)
        session.add(team)
    return team.id


async def add_task(
    database: Database,
    people: dict[str, uuid.UUID],
    *,
    stage: str = "plan_review",
    level: str = "P2",
    region: str = "international",
    entered: datetime = T0,
    created: datetime | None = None,
    responded: datetime | None = T0,
    assignee: bool = True,
    team_id: uuid.UUID | None = None,
    **fields,
) -> uuid.UUID:
    """A task at `stage` since `entered`; P2 with plan_review is a 24 h stage limit, on UTC by default."""
    task = Task(
        id=uuid.uuid4(),
        task_number=f"FB-2026-{uuid.uuid4().int % 10**9:09d}",
        title="Checkout fails",
        description="Paying by card fails with an error.",
        issue_type="bug",
        source_channel="web",
        region=region,
        priority_level=level,
        reporter_id=people["reporter"],
        assignee_id=people["assignee"] if assignee else None,
        team_id=team_id,
        workflow_stage=stage,
        stage_entered_at=entered,
        first_response_at=responded,
        created_at=created or entered,
        **fields,
    )
    async with database.sessionmaker() as session, session.begin():
        session.add(task)
    return task.id


async def task_row(database: Database, task_id: uuid.UUID) -> Task:
    async with database.sessionmaker() as session:
        return await session.get(Task, task_id)


async def sla_events(database: Database, task_id: uuid.UUID) -> list[TaskEvent]:
    async with database.sessionmaker() as session:
        statement = (
            select(TaskEvent)
            .where(TaskEvent.task_id == task_id, TaskEvent.kind.in_(("sla_warning", "sla_escalated")))
            .order_by(TaskEvent.id)
        )
        return list(await session.scalars(statement))


async def notified(database: Database, event_id: int) -> set[uuid.UUID]:
    """The people the outbox holds deliveries for, for one timeline event."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(select(NotificationDelivery).where(NotificationDelivery.event_id == event_id))
        return {row.user_id for row in rows if row.user_id is not None}


class TestWarning:
    async def test_nothing_happens_before_80_percent_of_the_stage_limit(self, database, people) -> None:
        task_id = await add_task(database, people)

        report = await check_sla(database, now=T0 + timedelta(hours=19), config=CONFIG)

        assert (report.checked, report.warned, report.escalated) == (1, 0, 0)
        assert await sla_events(database, task_id) == []

    async def test_at_80_percent_the_assignee_is_warned_once_per_stage(self, database, people) -> None:
        task_id = await add_task(database, people)
        at = T0 + timedelta(hours=20)

        report = await check_sla(database, now=at, config=CONFIG)
        again = await check_sla(database, now=at + timedelta(hours=1), config=CONFIG)

        assert (report.warned, again.warned) == (1, 0)
        [warning] = await sla_events(database, task_id)
        assert (warning.kind, warning.to_value, warning.actor_id) == ("sla_warning", "plan_review", None)
        assert warning.data["stage"] == "plan_review"
        assert warning.data["due"] == (T0 + 24 * HOURS).isoformat()
        assert warning.data["used"] == pytest.approx(20 / 24, abs=0.001)
        assert warning.data["told"] == [str(people["assignee"])]
        assert await notified(database, warning.id) == {people["assignee"]}
        task = await task_row(database, task_id)
        assert (task.sla_warned_at, task.escalation_level) == (at, 0)

    async def test_without_an_assignee_the_team_lead_is_warned(self, database, people) -> None:
        team_id = await add_team(database, lead=people["lead"])
        task_id = await add_task(database, people, assignee=False, team_id=team_id)

        await check_sla(database, now=T0 + timedelta(hours=20), config=CONFIG)

        [warning] = await sla_events(database, task_id)
        assert warning.data["told"] == [str(people["lead"])]

    async def test_the_warn_fraction_is_configurable(self, database, people) -> None:
        task_id = await add_task(database, people)
        early = FeedbackSlaSettings(sla_warn_fraction=0.5, _env_file=None)

        report = await check_sla(database, now=T0 + timedelta(hours=12), config=early)

        assert report.warned == 1
        assert [event.kind for event in await sla_events(database, task_id)] == ["sla_warning"]


class TestEscalation:
    async def test_levels_one_two_three_in_order_reach_the_assignee_the_lead_then_the_admins(
        self, database, people
    ) -> None:
        team_id = await add_team(database, lead=people["lead"])
        task_id = await add_task(database, people, team_id=team_id)

        levels = []
        for hours in (20, 24, 30, 36, 47, 48):
            report = await check_sla(database, now=T0 + timedelta(hours=hours), config=CONFIG)
            levels.append((hours, (await task_row(database, task_id)).escalation_level, dict(report.by_level)))

        assert levels == [(20, 0, {}), (24, 1, {1: 1}), (30, 1, {}), (36, 2, {2: 1}), (47, 2, {}), (48, 3, {3: 1})]
        warning, *escalations = await sla_events(database, task_id)
        assert warning.kind == "sla_warning"
        assert [(e.kind, e.from_value, e.to_value) for e in escalations] == [
            ("sla_escalated", "0", "1"),
            ("sla_escalated", "1", "2"),
            ("sla_escalated", "2", "3"),
        ]
        admins = [str(people["admin"])]
        assert [e.data["told"] for e in escalations] == [[str(people["assignee"])], [str(people["lead"])], admins]
        assert all(e.data["stage"] == "plan_review" and e.data["clock"] == "stage" for e in escalations)
        assert all(e.data["due"] == (T0 + 24 * HOURS).isoformat() for e in escalations)
        assert "plan_review stage ran past its 24 h limit" in escalations[0].reason
        assert [await notified(database, e.id) for e in escalations] == [
            {people["assignee"]},
            {people["lead"]},
            {people["admin"]},
        ]

    async def test_the_system_account_is_never_told(self, database, people) -> None:
        task_id = await add_task(database, people)

        await check_sla(database, now=T0 + timedelta(hours=48), config=CONFIG)

        [escalation] = await sla_events(database, task_id)
        assert str(SYSTEM_USER_ID) not in escalation.data["told"]
        assert str(people["admin"]) in escalation.data["told"]

    async def test_a_team_without_a_lead_passes_level_two_to_the_admins(self, database, people) -> None:
        team_id = await add_team(database, lead=None)
        task_id = await add_task(database, people, team_id=team_id)
        await check_sla(database, now=T0 + timedelta(hours=24), config=CONFIG)

        report = await check_sla(database, now=T0 + timedelta(hours=36), config=CONFIG)

        assert dict(report.by_level) == {3: 1}
        _, escalation = await sla_events(database, task_id)
        assert (escalation.from_value, escalation.to_value) == ("1", "3")
        assert escalation.data["told"] == [str(people["admin"])]
        assert escalation.data["skipped"] == [{"level": 2, "why": "the team has no active lead"}]
        assert "Level 2 passed over: the team has no active lead" in escalation.reason
        # Nothing is left for the level-3 time: the admins already know.
        assert (await check_sla(database, now=T0 + timedelta(hours=48), config=CONFIG)).escalated == 0

    async def test_a_task_without_an_assignee_starts_at_the_team_lead(self, database, people) -> None:
        team_id = await add_team(database, lead=people["lead"])
        task_id = await add_task(database, people, assignee=False, team_id=team_id)

        await check_sla(database, now=T0 + timedelta(hours=24), config=CONFIG)

        [escalation] = await sla_events(database, task_id)
        assert (escalation.to_value, escalation.data["told"]) == ("2", [str(people["lead"])])
        assert escalation.data["skipped"] == [{"level": 1, "why": "the task has no assignee"}]

    async def test_a_run_that_comes_late_tells_every_level_it_passed_in_one_step(self, database, people) -> None:
        team_id = await add_team(database, lead=people["lead"])
        task_id = await add_task(database, people, team_id=team_id)

        await check_sla(database, now=T0 + timedelta(hours=60), config=CONFIG)

        [escalation] = await sla_events(database, task_id)  # past the due: no warning first
        assert (escalation.from_value, escalation.to_value) == ("0", "3")
        assert escalation.data["told"] == [str(people[name]) for name in ("assignee", "lead", "admin")]


class TestResponseTarget:
    async def test_no_staff_response_within_the_levels_target_escalates_the_current_stage(
        self, database, people
    ) -> None:
        team_id = await add_team(database, lead=people["lead"])
        # P1: respond within 2 h; the plan_review stage itself has 24 h.
        task_id = await add_task(database, people, level="P1", responded=None, team_id=team_id)

        assert (await check_sla(database, now=T0 + 1 * HOURS, config=CONFIG)).escalated == 0
        first = await check_sla(database, now=T0 + 2 * HOURS, config=CONFIG)
        second = await check_sla(database, now=T0 + 3 * HOURS, config=CONFIG)

        assert (dict(first.by_level), dict(second.by_level)) == ({1: 1}, {2: 1})
        one, two = await sla_events(database, task_id)
        assert (one.data["clock"], one.data["stage"], one.data["due"]) == (
            "response",
            "plan_review",
            (T0 + 2 * HOURS).isoformat(),
        )
        assert "no staff response within the P1 response target (2 h)" in one.reason
        assert (two.to_value, two.data["told"]) == ("2", [str(people["lead"])])

    async def test_a_responded_task_runs_on_its_stage_clock_only(self, database, people) -> None:
        task_id = await add_task(database, people, level="P1", responded=T0 + HOURS / 2)

        report = await check_sla(database, now=T0 + 3 * HOURS, config=CONFIG)

        assert (report.checked, report.escalated) == (1, 0)
        assert await sla_events(database, task_id) == []


class TestWhichTasks:
    async def test_closed_rejected_and_archived_tasks_are_ignored(self, database, people) -> None:
        long_ago = T0 - timedelta(days=30)
        ids = [
            await add_task(database, people, stage="closed", entered=long_ago),
            await add_task(database, people, stage="rejected", entered=long_ago),
            await add_task(database, people, entered=long_ago, archived_at=long_ago),
        ]

        report = await check_sla(database, now=T0, config=CONFIG)

        assert (report.checked, report.warned, report.escalated) == (0, 0, 0)
        for task_id in ids:
            assert await sla_events(database, task_id) == []

    async def test_a_stage_without_a_limit_is_not_watched(self, database, people) -> None:
        await add_task(database, people, stage="routed", entered=T0 - timedelta(days=30))

        assert (await check_sla(database, now=T0, config=CONFIG)).checked == 0

    async def test_a_new_stage_is_watched_afresh(self, database, people) -> None:
        task_id = await add_task(database, people)
        await check_sla(database, now=T0 + timedelta(hours=25), config=CONFIG)
        async with database.sessionmaker() as session, session.begin():  # what workflow.move writes
            task = await session.get(Task, task_id)
            task.workflow_stage, task.stage_entered_at = "assigned", T0 + timedelta(hours=25)
            task.sla_warned_at, task.escalation_level = None, 0

        # P2 caps the assigned stage's 72 h at its 72 h resolution target: 80 % is 57.6 h in.
        report = await check_sla(database, now=T0 + timedelta(hours=25 + 58), config=CONFIG)

        assert report.warned == 1
        escalation, warning = await sla_events(database, task_id)
        assert (escalation.data["stage"], warning.data["stage"]) == ("plan_review", "assigned")

    async def test_every_batch_is_checked(self, database, people) -> None:
        ids = [await add_task(database, people) for _ in range(5)]

        report = await check_sla(database, now=T0 + timedelta(hours=24), config=CONFIG, batch_size=2)

        assert (report.checked, report.escalated) == (5, 5)
        for task_id in ids:
            assert (await task_row(database, task_id)).escalation_level == 1


class TestIdempotence:
    async def test_a_second_run_at_the_same_instant_changes_nothing(self, database, people) -> None:
        team_id = await add_team(database, lead=people["lead"])
        warned = await add_task(database, people, team_id=team_id, entered=T0 + 16 * HOURS)
        escalated = await add_task(database, people, team_id=team_id)
        at = T0 + timedelta(hours=36)

        first = await check_sla(database, now=at, config=CONFIG)
        before = [await sla_events(database, task_id) for task_id in (warned, escalated)]
        second = await check_sla(database, now=at, config=CONFIG)

        assert (first.warned, first.escalated, second.warned, second.escalated) == (1, 1, 0, 0)
        assert second.checked == 2
        after = [await sla_events(database, task_id) for task_id in (warned, escalated)]
        assert [[e.id for e in events] for events in after] == [[e.id for e in events] for events in before]

    async def test_concurrent_runs_escalate_each_task_once(self, database, people) -> None:
        ids = [await add_task(database, people) for _ in range(6)]

        reports = await asyncio.gather(
            *(check_sla(database, now=T0 + 24 * HOURS, config=CONFIG, batch_size=2) for _ in range(3))
        )

        assert sum(report.escalated for report in reports) == 6
        for task_id in ids:
            assert [e.to_value for e in await sla_events(database, task_id)] == ["1"]

    async def test_a_task_locked_by_another_run_is_skipped_not_waited_for(self, database, database_url, people) -> None:
        held, free = await add_task(database, people), await add_task(database, people)
        # Were the row waited for, this run would fail on the lock timeout instead of hanging the test.
        url = make_url(database_url).update_query_dict({"options": "-c lock_timeout=5000"})
        impatient = Database.connect(url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
        try:
            async with database.sessionmaker() as other, other.begin():
                await other.scalar(select(Task).where(Task.id == held).with_for_update())

                report = await check_sla(impatient, now=T0 + 24 * HOURS, config=CONFIG)
        finally:
            await impatient.dispose()

        assert (report.checked, report.escalated) == (1, 1)
        assert await sla_events(database, held) == []
        assert [e.to_value for e in await sla_events(database, free)] == ["1"]


class TestBusinessCalendar:
    async def test_off_hours_do_not_count_towards_the_stage_limit(self, database, people) -> None:
        # Domestic runs on Asia/Shanghai; the analyzed stage has 4 h. Entered Friday 17:00 local (09:00 UTC):
        # one working hour on Friday, three on Monday from 09:00 → due Monday 12:00 local (04:00 UTC).
        friday_17 = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
        monday_12 = datetime(2026, 12, 14, 4, 0, tzinfo=UTC)
        saturday = datetime(2026, 12, 12, 4, 0, tzinfo=UTC)
        task_id = await add_task(database, people, stage="analyzed", region="domestic", entered=friday_17)
        office = FeedbackSlaSettings(
            sla_business_calendars={"domestic": BusinessCalendar(start=time(9), end=time(18))}, _env_file=None
        )

        weekend = await check_sla(database, now=saturday, config=office)
        monday_morning = await check_sla(database, now=monday_12 - HOURS / 2, config=office)
        monday_noon = await check_sla(database, now=monday_12, config=office)

        assert (weekend.warned, weekend.escalated) == (0, 0)
        assert (monday_morning.warned, monday_morning.escalated) == (1, 0)
        assert dict(monday_noon.by_level) == {1: 1}
        warning, escalation = await sla_events(database, task_id)
        assert warning.data["used"] == pytest.approx(3.5 / 4)
        assert warning.data["timezone"] == "Asia/Shanghai"
        assert datetime.fromisoformat(escalation.data["due"]) == monday_12
        assert escalation.data["due"].endswith("+08:00")  # written on the region's clock

    async def test_without_a_calendar_the_clock_runs_round_the_clock(self, database, people) -> None:
        friday_17 = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
        task_id = await add_task(database, people, stage="analyzed", region="domestic", entered=friday_17)

        await check_sla(database, now=friday_17 + 4 * HOURS, config=CONFIG)

        [escalation] = await sla_events(database, task_id)
        assert datetime.fromisoformat(escalation.data["due"]) == friday_17 + 4 * HOURS


class TestSettings:
    def test_the_check_interval_must_divide_a_minute_or_an_hour(self) -> None:
        assert FeedbackSlaSettings(_env_file=None).sla_check_cron == "*/1 * * * *"
        assert FeedbackSlaSettings(sla_check_interval_seconds=15, _env_file=None).sla_check_cron == "* * * * * */15"
        assert FeedbackSlaSettings(sla_check_interval_seconds=3600, _env_file=None).sla_check_cron == "0 * * * *"
        for uneven in (45, 90, 420):
            with pytest.raises(ValueError, match="divide a minute"):
                FeedbackSlaSettings(sla_check_interval_seconds=uneven, _env_file=None)

    async def test_the_worker_runs_the_check_periodically(self, settings, database_url) -> None:
        from loopdesk.feedback.tasks import FEEDBACK_SLA_TASK
        from loopdesk.runtime.graphs import GraphRegistry
        from loopdesk.runtime.worker import QueueWorker

        settings.feedback_sla = FeedbackSlaSettings(sla_check_interval_seconds=30, _env_file=None)
        db = Database.connect(database_url, pool_size=1, max_overflow=0)
        try:
            worker = QueueWorker.build(database_url, settings, db, None, GraphRegistry())  # type: ignore[arg-type]
        finally:
            await db.dispose()

        assert FEEDBACK_SLA_TASK in worker.app.tasks
        periodic = [p for p in worker.app.periodic_registry.periodic_tasks.values() if p.task.name == FEEDBACK_SLA_TASK]
        assert [p.cron for p in periodic] == ["* * * * * */30"]

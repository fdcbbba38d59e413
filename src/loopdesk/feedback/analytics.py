"""Feedback analytics: the loop's measures over a period, for the API and the weekly report.

Read-only reporting queries. This module owns every analytics read of `tasks` and `task_events` (the
timeline, where a measure needs the order of events); it never writes or locks, and never loads task rows:
each query aggregates in PostgreSQL and returns a handful of numbers. Every measure counts the tasks
created in the period, except the daily resolved trend (resolved in the period) and the backlog (open now).

Definitions (each also in the response schema):
- first response / resolution: hours from `created_at` to `first_response_at` / `resolved_at`;
- fix rate: closed / (closed + rejected); the last close is the reporter's (a passed verification) or staff's;
- SLA attainment: resolved by `sla_deadline`, of the resolved tasks that have one;
- reopen rate: `reopen_count > 0`, of the tasks ever finished (finished now, or reopened);
- duplicate rate: joined reporters (`reporter_count - 1`, summed) of all reports (tasks + joined);
- automation: of the tasks that reached plan_review, those with no person's workflow action on the timeline
  before the first plan_review (the workflow analysed and routed them), and those whose assignee the
  workflow named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from loopdesk.core.errors import LoopdeskError
from loopdesk.feedback.analytics_schemas import (
    Automation,
    Backlog,
    BreachedTask,
    Csat,
    DayCount,
    DurationStats,
    FeedbackAnalyticsRead,
    FixRate,
    PeriodRead,
    Share,
    SlaAttainment,
)
from loopdesk.feedback.models import FINAL_STAGES, STAGES, Task, TaskEvent

RANGES = {"7d": 7, "30d": 30, "90d": 90}
MAX_PERIOD_DAYS = 366
MODULES_SHOWN = 50
UNKNOWN = "unknown"
# Timeline kinds that move a task through the workflow; one with an actor before plan_review means a person
# did what the workflow would have (the reporter's `created` and attachments do not count).
WORKFLOW_KINDS = ("stage", "team", "assignee", "plan", "priority", "classified", "progress")

Step = Callable[[str], None]


class InvalidPeriod(LoopdeskError):
    status_code, code, message = 422, "invalid_period", "The period cannot be used"


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @classmethod
    def last(cls, days: float, *, now: datetime) -> Period:
        return cls(now - timedelta(days=days), now)

    @classmethod
    def dates(cls, first: date, last: date) -> Period:
        """Whole UTC days, `last` included."""
        if last < first:
            raise InvalidPeriod("`to` is before `from`", detail={"from": first, "to": last})
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise InvalidPeriod(f"A period spans at most {MAX_PERIOD_DAYS} days", detail={"from": first, "to": last})
        if first.year < 2 or last.year > 9998:  # the previous period and the end must stay representable
            raise InvalidPeriod("Dates from year 2 to 9998", detail={"from": first, "to": last})
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    @classmethod
    def iso_week(cls, year: int, week: int) -> Period:
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise InvalidPeriod(str(exc), detail={"year": year, "week": week}) from None
        return cls.dates(monday, monday + timedelta(days=6))

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length just before this one (week over week)."""
        return Period(self.start - self.length, self.start)

    def days(self) -> list[date]:
        first, last = _utc_day(self.start), _utc_day(self.end - timedelta(microseconds=1))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def read(self) -> PeriodRead:
        return PeriodRead(start=self.start, end=self.end, days=round(self.length / timedelta(days=1), 4))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _hours(later: Any, earlier: Any) -> ColumnElement[float]:
    return cast(func.extract("epoch", later - earlier), Float) / 3600.0


def _round(value: Any, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _share(count: int, total: int) -> Share:
    return Share(rate=_round(count / total if total else None, 4), count=count, total=total)


def _durations(row: Any, name: str) -> DurationStats:
    return DurationStats(
        count=row[f"{name}_count"],
        p50_hours=_round(row[f"{name}_p50"]),
        p90_hours=_round(row[f"{name}_p90"]),
        mean_hours=_round(row[f"{name}_mean"]),
    )


def _ranked(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class FeedbackAnalytics:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def compute(self, period: Period, *, now: datetime, step: Step | None = None) -> FeedbackAnalyticsRead:
        """Every measure of the period (and the backlog as of `now`); `step` hears which query runs next."""
        tell = step or (lambda _: None)
        tell("totals and durations")
        totals = await self._totals(period)
        tell("closures")
        closers = await self._closers(period)
        tell("automation (timeline)")
        automation = await self._automation(period)
        tell("daily trend")
        trend = await self._trend(period)
        tell("breakdowns")
        breakdowns = await self._breakdowns(period)
        breakdowns["by_module"] = await self._modules(period)
        tell("backlog")
        backlog = await self._backlog(now)
        finished = totals["closed"] + totals["rejected"]
        joined = int(totals["joined"])
        return FeedbackAnalyticsRead(
            period=period.read(),
            generated_at=now,
            tasks_created=totals["created"],
            reports=totals["created"] + joined,
            first_response=_durations(totals, "response"),
            resolution=_durations(totals, "resolve"),
            fix_rate=FixRate(
                **_share(totals["closed"], finished).model_dump(),
                closed_by_reporter=closers["by_reporter"],
                closed_by_staff=closers["by_staff"],
                rejected=totals["rejected"],
            ),
            sla_attainment=SlaAttainment(
                **_share(totals["sla_met"], totals["sla_resolved"]).model_dump(), breached_open_now=backlog.breached
            ),
            reopen_rate=_share(totals["reopened"], totals["ever_finished"]),
            duplicate_rate=_share(joined, totals["created"] + joined),
            automation=automation,
            csat=Csat(
                mean=_round(totals["csat_mean"]),
                count=totals["csat_count"],
                distribution={str(score): totals[f"csat_{score}"] for score in range(1, 6)},
            ),
            trend=trend,
            backlog=backlog,
            **breakdowns,
        )

    # -- the queries ---------------------------------------------------------------------------------

    @staticmethod
    def _created_in(period: Period) -> ColumnElement[bool]:
        return and_(Task.created_at >= period.start, Task.created_at < period.end)

    async def _totals(self, period: Period) -> Any:
        response = _hours(Task.first_response_at, Task.created_at)
        resolve = _hours(Task.resolved_at, Task.created_at)
        finished = Task.workflow_stage.in_(FINAL_STAGES)
        durations = []
        for name, hours in (("response", response), ("resolve", resolve)):
            durations += [
                func.count(hours).label(f"{name}_count"),
                func.percentile_cont(0.5).within_group(hours).label(f"{name}_p50"),
                func.percentile_cont(0.9).within_group(hours).label(f"{name}_p90"),
                func.avg(hours).label(f"{name}_mean"),
            ]
        statement = select(
            func.count().label("created"),
            func.coalesce(func.sum(Task.reporter_count - 1), 0).label("joined"),
            *durations,
            _count(Task.workflow_stage == "closed").label("closed"),
            _count(Task.workflow_stage == "rejected").label("rejected"),
            _count(and_(Task.resolved_at.is_not(None), Task.sla_deadline.is_not(None))).label("sla_resolved"),
            _count(Task.resolved_at <= Task.sla_deadline).label("sla_met"),
            _count(Task.reopen_count > 0).label("reopened"),
            _count(or_(finished, Task.reopen_count > 0)).label("ever_finished"),
            func.count(Task.csat).label("csat_count"),
            func.avg(Task.csat).label("csat_mean"),
            *(_count(Task.csat == score).label(f"csat_{score}") for score in range(1, 6)),
        ).where(self._created_in(period))
        return (await self.session.execute(statement)).mappings().one()

    async def _closers(self, period: Period) -> Any:
        """Who closed each closed task last (a reopened task may have been closed before)."""
        last_close = (
            select(TaskEvent.actor_id)
            .where(TaskEvent.task_id == Task.id, TaskEvent.kind == "stage", TaskEvent.to_value == "closed")
            .order_by(TaskEvent.id.desc())
            .limit(1)
            .lateral("last_close")
        )
        by_reporter = last_close.c.actor_id == Task.reporter_id
        statement = (
            select(_count(by_reporter).label("by_reporter"), _count(~by_reporter).label("by_staff"))
            .select_from(Task)
            .join(last_close, true())
            .where(self._created_in(period), Task.workflow_stage == "closed")
        )
        return (await self.session.execute(statement)).mappings().one()

    async def _automation(self, period: Period) -> Automation:
        review = (
            select(TaskEvent.task_id, func.min(TaskEvent.id).label("event_id"))
            .join(Task, Task.id == TaskEvent.task_id)
            .where(self._created_in(period), TaskEvent.kind == "stage", TaskEvent.to_value == "plan_review")
            .group_by(TaskEvent.task_id)
            .subquery("review")
        )
        human, assigned = aliased(TaskEvent), aliased(TaskEvent)
        by_person = exists().where(
            human.task_id == review.c.task_id,
            human.id < review.c.event_id,
            human.kind.in_(WORKFLOW_KINDS),
            human.actor_id.is_not(None),
        )
        by_workflow = exists().where(
            assigned.task_id == review.c.task_id,
            assigned.id < review.c.event_id,
            assigned.kind == "assignee",
            assigned.actor_id.is_(None),
        )
        statement = select(
            func.count().label("reached"),
            _count(~by_person).label("automated"),
            _count(by_workflow).label("routed_to_person"),
        ).select_from(review)
        row = (await self.session.execute(statement)).mappings().one()
        return Automation(
            reached_plan_review=row["reached"],
            no_human_before_review=_share(row["automated"], row["reached"]),
            routed_to_person=_share(row["routed_to_person"], row["reached"]),
        )

    async def _trend(self, period: Period) -> list[DayCount]:
        counts: dict[str, dict[date, int]] = {}
        for name, column in (("created", Task.created_at), ("resolved", Task.resolved_at)):
            day = cast(func.timezone("UTC", column), Date).label("day")
            statement = select(day, func.count()).where(column >= period.start, column < period.end).group_by(day)
            counts[name] = {row[0]: row[1] for row in await self.session.execute(statement)}
        return [
            DayCount(day=day, created=counts["created"].get(day, 0), resolved=counts["resolved"].get(day, 0))
            for day in period.days()
        ]

    async def _breakdowns(self, period: Period) -> dict[str, dict[str, int]]:
        """Tasks by category, region, issue type and priority in one scan (GROUPING SETS)."""
        dimensions = {
            "by_category": Task.category,
            "by_region": Task.region,
            "by_issue_type": Task.issue_type,
            "by_priority": Task.priority_level,
        }
        statement = (
            select(
                *(func.grouping(column).label(f"{name}_grouped") for name, column in dimensions.items()),
                *(column.label(name) for name, column in dimensions.items()),
                func.count().label("tasks"),
            )
            .where(self._created_in(period))
            .group_by(func.grouping_sets(*dimensions.values()))
        )
        found: dict[str, dict[str, int]] = {name: {} for name in dimensions}
        for row in (await self.session.execute(statement)).mappings():
            # GROUPING() is 0 for the set's own column: that tells a NULL value from "not this set".
            name = next(name for name in dimensions if row[f"{name}_grouped"] == 0)
            found[name][row[name] or UNKNOWN] = row["tasks"]
        return {name: _ranked(counts) for name, counts in found.items()}

    async def _modules(self, period: Period) -> dict[str, int]:
        module = func.jsonb_array_elements_text(Task.affected_modules).table_valued("value").lateral("module")
        statement = (
            select(module.c.value, func.count().label("tasks"))
            .select_from(Task)
            .join(module, true())
            .where(self._created_in(period))
            .group_by(module.c.value)
            .order_by(func.count().desc(), module.c.value)
            .limit(MODULES_SHOWN)
        )
        return {row[0]: row[1] for row in await self.session.execute(statement)}

    async def _backlog(self, now: datetime) -> Backlog:
        statement = (
            select(Task.workflow_stage, func.count(), _count(Task.sla_deadline < now))
            .where(Task.workflow_stage.not_in(FINAL_STAGES))
            .group_by(Task.workflow_stage)
        )
        rows = {stage: (count, breached) for stage, count, breached in await self.session.execute(statement)}
        return Backlog(
            open=sum(count for count, _ in rows.values()),
            breached=sum(breached for _, breached in rows.values()),
            by_stage={stage: rows[stage][0] for stage in STAGES if stage in rows},
        )

    async def breached_tasks(self, *, now: datetime, limit: int = 20) -> list[BreachedTask]:
        """Open tasks past their deadline, longest overdue first (the SLA job's partial index serves this)."""
        statement = (
            select(
                Task.task_number,
                Task.title,
                Task.workflow_stage,
                Task.priority_level,
                Task.sla_deadline,
            )
            .where(Task.workflow_stage.not_in(FINAL_STAGES), Task.sla_deadline < now)
            .order_by(Task.sla_deadline, Task.task_number)
            .limit(limit)
        )
        return [
            BreachedTask(
                task_number=row.task_number,
                title=row.title,
                workflow_stage=row.workflow_stage,
                priority_level=row.priority_level,
                sla_deadline=row.sla_deadline,
                overdue_hours=round((now - row.sla_deadline) / timedelta(hours=1), 2),
            )
            for row in await self.session.execute(statement)
        ]

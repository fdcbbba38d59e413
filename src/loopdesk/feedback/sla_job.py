"""The SLA job (seed §3.3, §5.2): warn before a task's current stage runs out of time, escalate once it has.

Each open task with a limited stage runs on up to two clocks, counted on its region's clock (business hours
when the region has a calendar): the stage's limit for its level (capped by the level's resolution target)
from `stage_entered_at`, and, until staff first respond, the level's response target from `created_at`. At
`sla_warn_fraction` of the stage's budget the assignee (else the team lead) is warned, once per stage. Past a
due the task escalates: level 1 (the assignee) at the due, 2 (the team lead) half a limit later, 3 (the admins)
a whole limit later; a level with nobody to tell passes to the next. `workflow.move` resets both marks, so
each stage is watched afresh.

Rows are taken in batches locked FOR UPDATE SKIP LOCKED, one transaction per batch holding the marks, the
timeline events and the notifications: a concurrent run skips what another is handling, and a second run at
the same instant finds nothing left to do.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.settings import FeedbackSlaSettings
from loopdesk.feedback.classification import TriageConfig
from loopdesk.feedback.models import FINAL_STAGES, Task
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.routing import admins, team_lead
from loopdesk.feedback.teams import TeamRepository
from loopdesk.triage.sla import BusinessCalendar, due_at, elapsed, sla_status, sla_targets

log = structlog.get_logger("loopdesk.feedback.sla")

BATCH_SIZE = 100
LEVEL_NAMES = {1: "assignee", 2: "team lead", 3: "admins"}
ClockBasis = Literal["stage", "response"]


@dataclass(slots=True)
class SlaReport:
    checked: int = 0
    warned: int = 0
    escalated: int = 0
    by_level: Counter[int] = field(default_factory=Counter)  # escalations by the level they reached


@dataclass(frozen=True, slots=True)
class Clock:
    basis: ClockBasis
    start: datetime
    due: datetime
    limit: timedelta
    timezone: str
    calendar: BusinessCalendar | None

    def after_due(self, extra: timedelta) -> datetime:
        return due_at(self.due, extra, calendar=self.calendar, tz=self.timezone)

    def level_at(self, now: datetime) -> int:
        """The escalation level this clock calls for at `now`: 0 before the due, then 1, 2, 3."""
        if now < self.due:
            return 0
        if now < self.after_due(self.limit / 2):
            return 1
        return 2 if now < self.after_due(self.limit) else 3

    def used(self, now: datetime) -> float:
        counted = elapsed(self.start, now, calendar=self.calendar, tz=self.timezone)
        return counted / self.limit if self.limit else 1.0


def task_clocks(task: Task, config: FeedbackSlaSettings, triage: TriageConfig) -> list[Clock]:
    """The task's clocks, the stage's first; none when its stage has no limit. A task not yet classified
    (no level) gets the stage's plain limit and no response clock; one without a region runs on UTC, 24/7."""
    stage = task.workflow_stage
    stage_sla = triage.sla.stages.get(stage)
    if stage_sla is None or stage in FINAL_STAGES:
        return []
    timezone = triage.region.timezone_for(task.region) if task.region else "UTC"
    calendar = config.sla_business_calendars.get(task.region) if task.region else None
    stage_start = task.stage_entered_at or task.created_at
    level = task.priority_level
    if level not in triage.sla.levels:
        limit = stage_sla.max_duration
        due = due_at(stage_start, limit, calendar=calendar, tz=timezone)
        return [Clock("stage", stage_start, due, limit, timezone, calendar)]
    targets = sla_targets(
        level, stage, triage.sla, start=task.created_at, tz=timezone, calendar=calendar, stage_started=stage_start
    )
    clocks = [Clock("stage", stage_start, targets.stage_due, targets.stage_duration, timezone, calendar)]
    if task.first_response_at is None:
        response = triage.sla.levels[level].response
        clocks.append(Clock("response", task.created_at, targets.response_due, response, timezone, calendar))
    return clocks


async def check_sla(
    database: Database,
    *,
    now: datetime | None = None,
    config: FeedbackSlaSettings,
    triage: TriageConfig = TriageConfig(),
    batch_size: int = BATCH_SIZE,
) -> SlaReport:
    """Warn and escalate every open task that is due for it at `now` (default: the current time)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stages = [stage for stage in triage.sla.stages if stage not in FINAL_STAGES]
    report, after = SlaReport(), None
    while True:
        async with database.sessionmaker() as session, session.begin():
            batch = await _lock_open_tasks(session, stages, after=after, limit=batch_size)
            for task in batch:
                await _check_task(session, task, now, config, triage, report)
        if len(batch) < batch_size:
            break
        after = batch[-1].id
    if report.warned or report.escalated:
        log.info(
            "feedback.sla.checked",
            checked=report.checked,
            warned=report.warned,
            escalated=report.escalated,
            by_level=dict(report.by_level),
        )
    return report


async def _lock_open_tasks(
    session: AsyncSession, stages: Sequence[str], *, after: uuid.UUID | None, limit: int
) -> list[Task]:
    # Rows another run holds are skipped: that run handles them, and this one moves past them by id.
    statement = select(Task).where(Task.workflow_stage.in_(stages), Task.archived_at.is_(None))
    if after is not None:
        statement = statement.where(Task.id > after)
    statement = statement.order_by(Task.id).limit(limit).with_for_update(skip_locked=True)
    return list(await session.scalars(statement))


async def _check_task(
    session: AsyncSession,
    task: Task,
    now: datetime,
    config: FeedbackSlaSettings,
    triage: TriageConfig,
    report: SlaReport,
) -> None:
    try:
        clocks = task_clocks(task, config, triage)
        # The clock calling for the highest level decides; on a tie the stage's, which every task has.
        levels = [(clock.level_at(now), clock.basis == "stage", clock) for clock in clocks]
    except ValueError as exc:  # a calendar with no working time, an unknown zone: this task only
        log.warning("feedback.sla.unreadable_clock", task_id=str(task.id), error=str(exc))
        return
    if not clocks:
        return
    report.checked += 1
    target, _, deciding = max(levels, key=lambda entry: entry[:2])
    if target > task.escalation_level and triage.sla.stages[task.workflow_stage].escalate:
        reached = await _escalate(session, task, deciding, target)
        report.escalated += 1
        report.by_level[reached] += 1
    elif task.escalation_level == 0 and task.sla_warned_at is None:
        stage = clocks[0]
        status = sla_status(
            now,
            stage.due,
            start=stage.start,
            calendar=stage.calendar,
            tz=stage.timezone,
            at_risk_fraction=config.sla_warn_fraction,
        )
        if status == "at_risk":
            await _warn(session, task, stage, now)
            report.warned += 1


async def _warn(session: AsyncSession, task: Task, clock: Clock, now: datetime) -> None:
    assignee, _ = await _contacts(session, task, 1)
    people = assignee or (await _contacts(session, task, 2))[0]
    used = round(clock.used(now), 3)
    data = {
        "stage": task.workflow_stage,
        "due": clock.due.isoformat(),
        "used": used,
        "limit_seconds": int(clock.limit.total_seconds()),
        "timezone": clock.timezone,
        "told": [str(person) for person in people],
    }
    reason = f"{used:.0%} of the {task.workflow_stage} stage's {_hours(clock.limit)} limit used; due {data['due']}"
    event = await TaskRepository(session).add_event(
        task.id, "sla_warning", to_value=task.workflow_stage, reason=reason, data=data
    )
    task.sla_warned_at = now
    await _notify(session, task, "sla_warning", event.id, people, {**data, "reason": reason})
    log.info("feedback.sla.warned", task_id=str(task.id), stage=task.workflow_stage, used=used)


async def _escalate(session: AsyncSession, task: Task, clock: Clock, target: int) -> int:
    """Raise the task to `target` (or past it while a level has nobody to tell); returns the level reached."""
    previous, told, skipped = task.escalation_level, [], []
    level = previous
    for level in range(previous + 1, 4):
        people, why = await _contacts(session, task, level)
        told.extend(person for person in people if person not in told)
        if not people:
            skipped.append({"level": level, "why": why})
        elif level >= target:
            break
    data = {
        "stage": task.workflow_stage,
        "clock": clock.basis,
        "due": clock.due.isoformat(),
        "limit_seconds": int(clock.limit.total_seconds()),
        "timezone": clock.timezone,
        "level": level,
        "level_name": LEVEL_NAMES[level],
        "told": [str(person) for person in told],
        "skipped": skipped,
    }
    reason = _escalation_reason(task, clock, level, skipped, told)
    event = await TaskRepository(session).add_event(
        task.id, "sla_escalated", from_value=str(previous), to_value=str(level), reason=reason, data=data
    )
    task.escalation_level = level
    await _notify(session, task, "sla_escalated", event.id, told, {**data, "reason": reason})
    log.info("feedback.sla.escalated", task_id=str(task.id), stage=task.workflow_stage, level=level, clock=clock.basis)
    return level


async def _contacts(session: AsyncSession, task: Task, level: int) -> tuple[list[uuid.UUID], str]:
    """Who a level reaches, or nobody and why."""
    if level == 1:
        if task.assignee_id is None:
            return [], "the task has no assignee"
        if await TeamRepository(session).active_staff(task.assignee_id) is None:
            return [], "the assignee is no longer active staff"
        return [task.assignee_id], ""
    if level == 2:
        if task.team_id is None:
            return [], "the task has no team"
        lead = await team_lead(session, task.team_id)
        return ([lead], "") if lead is not None else ([], "the team has no active lead")
    found = await admins(session)
    return found, "" if found else "there is no active admin"


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _escalation_reason(task: Task, clock: Clock, level: int, skipped: list[dict], told: list) -> str:
    if clock.basis == "response":
        why = f"no staff response within the {task.priority_level} response target ({_hours(clock.limit)})"
    else:
        why = f"the {task.workflow_stage} stage ran past its {_hours(clock.limit)} limit"
    sentence = f"Escalated to level {level} ({LEVEL_NAMES[level]}): {why}, due {clock.due.isoformat()}."
    for skip in skipped:
        sentence += f" Level {skip['level']} passed over: {skip['why']}."
    if not told:
        sentence += " Nobody could be told."
    return sentence


async def _notify(
    session: AsyncSession, task: Task, name: str, event_id: int, people: list[uuid.UUID], data: dict
) -> None:
    from loopdesk.notifications.service import notify

    await notify(session, task, event=name, event_id=event_id, users=people, data=data)

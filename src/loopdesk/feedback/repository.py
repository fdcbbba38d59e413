"""The only code that queries the feedback tables. Reads go through `readable_statement`: a customer
reads the tasks they reported (or joined as a duplicate's reporter); staff their teams' tasks, those assigned to
them and the unrouted ones; admins all."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Select, cast, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import FINAL_STAGES, TASK_NUMBER_SEQ, Task, TaskEvent, TaskReporter, Team, TeamMember
from loopdesk.feedback.schemas import TaskQuery
from loopdesk.runtime.runs.events import CHANNEL
from loopdesk.users.models import Role, User

TASK_NUMBER = re.compile(r"FB-\d{4}-\d{6,}")
_INCIDENT_LOCKS = 0x494E4344  # "INCD": the first key of the advisory lock automatic intake takes per module


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def task_key(task_id: uuid.UUID | str) -> str:
    """The event bus key that wakes followers of a task when its timeline grows."""
    return f"task/{task_id}"


class TaskRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def readable_statement(self, user: User) -> Select[tuple[Task]]:
        """Admins read every task; staff the tasks of their teams (member or lead), those assigned to them and
        those not routed to a team yet (the triage queue); customers those they reported or joined."""
        statement = select(Task)
        if user.role == Role.admin:
            return statement
        if user.is_staff:
            teams = (
                select(TeamMember.team_id)
                .where(TeamMember.user_id == user.id)
                .union(select(Team.id).where(Team.lead_id == user.id))
            )
            return statement.where(or_(Task.team_id.is_(None), Task.team_id.in_(teams), Task.assignee_id == user.id))
        reported = exists().where(TaskReporter.task_id == Task.id, TaskReporter.user_id == user.id)
        return statement.where(reported)

    async def next_task_number(self, at: datetime) -> str:
        number = await self.session.scalar(TASK_NUMBER_SEQ.next_value())
        return f"FB-{at.year}-{number:06d}"

    async def add(self, task: Task) -> Task:
        self.session.add(task)
        await self.session.flush()
        await self.add_reporter(task.id, task.reporter_id)
        return task

    async def save(self, task: Task) -> Task:
        """Flush the task's changes and read back what the database set (`updated_at`)."""
        await self.session.flush()
        await self.session.refresh(task)
        return task

    async def add_reporter(self, task_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """True when the user is a new reporter of the task."""
        inserted = await self.session.execute(
            insert(TaskReporter)
            .values(task_id=task_id, user_id=user_id)
            .on_conflict_do_nothing()
            .returning(TaskReporter.user_id)
        )
        return inserted.first() is not None

    async def remove_reporter(self, task_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """True when the user was a reporter of the task."""
        removed = await self.session.execute(
            delete(TaskReporter)
            .where(TaskReporter.task_id == task_id, TaskReporter.user_id == user_id)
            .returning(TaskReporter.user_id)
        )
        return removed.first() is not None

    async def joined_report(self, task_id: uuid.UUID, user_id: uuid.UUID) -> TaskEvent | None:
        """The latest report with which `user_id` joined the task as a near-duplicate (its `duplicate_linked`)."""
        statement = (
            select(TaskEvent)
            .where(
                TaskEvent.task_id == task_id,
                TaskEvent.kind == "duplicate_linked",
                TaskEvent.data["reporter_id"].astext == str(user_id),
            )
            .order_by(TaskEvent.id.desc())
            .limit(1)
        )
        return await self.session.scalar(statement)

    # -- automatic intake: incidents are `incident` entries on the timeline of `auto` tasks ----------------

    async def lock_module_incidents(self, module: str) -> None:
        """Serialise automatic intake for one module until the transaction ends (concurrent job runs)."""
        key = int.from_bytes(hashlib.sha256(module.encode()).digest()[:4], "big", signed=True)
        await self.session.execute(select(func.pg_advisory_xact_lock(_INCIDENT_LOCKS, key)))

    async def recorded_incident(self, module: str, metric: str, start: datetime, end: datetime) -> TaskEvent | None:
        """An incident of the module and metric already recorded on a task whose time range meets [start, end)."""
        data = TaskEvent.data
        statement = (
            select(TaskEvent)
            .where(
                TaskEvent.kind == "incident",
                data["module"].astext == module,
                data["metric"].astext == metric,
                cast(data["start"].astext, DateTime(timezone=True)) <= end,
                cast(data["end"].astext, DateTime(timezone=True)) >= start,
            )
            .order_by(TaskEvent.id)
            .limit(1)
        )
        return await self.session.scalar(statement)

    async def open_auto_task(self, module: str) -> Task | None:
        """The oldest open automatic task opened for (or joined by) an incident of the module; locked."""
        incident = exists().where(
            TaskEvent.task_id == Task.id, TaskEvent.kind == "incident", TaskEvent.data["module"].astext == module
        )
        statement = (
            select(Task)
            .where(Task.source_channel == "auto", Task.workflow_stage.not_in(FINAL_STAGES), incident)
            .order_by(Task.created_at, Task.id)
            .limit(1)
            .with_for_update()
        )
        return await self.session.scalar(statement)

    async def reporter_ids(self, task_id: uuid.UUID) -> list[uuid.UUID]:
        statement = (
            select(TaskReporter.user_id).where(TaskReporter.task_id == task_id).order_by(TaskReporter.created_at)
        )
        return list(await self.session.scalars(statement))

    async def get_for_update(self, task_id: uuid.UUID) -> Task | None:
        """The task locked, as the database has it now: a copy read earlier in this session (before the lock,
        while another transaction moved the task on) is overwritten, never acted upon."""
        statement = select(Task).where(Task.id == task_id).with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(statement)

    async def events_after(self, task_id: uuid.UUID, after: int, *, limit: int = 200) -> list[TaskEvent]:
        statement = (
            select(TaskEvent).where(TaskEvent.task_id == task_id, TaskEvent.id > after).order_by(TaskEvent.id)
        ).limit(limit)
        return list(await self.session.scalars(statement))

    async def count_reporters(self, task_id: uuid.UUID) -> int:
        statement = select(func.count()).select_from(TaskReporter).where(TaskReporter.task_id == task_id)
        return int(await self.session.scalar(statement) or 0)

    async def add_event(
        self,
        task_id: uuid.UUID,
        kind: str,
        *,
        actor_id: uuid.UUID | None = None,
        from_value: str | None = None,
        to_value: str | None = None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> TaskEvent:
        event = TaskEvent(
            task_id=task_id,
            kind=kind,
            actor_id=actor_id,
            from_value=from_value,
            to_value=to_value,
            reason=reason,
            data=data or {},
        )
        self.session.add(event)
        await self.session.flush()
        # WebSocket followers of the task (realtime/task_follower.py) read the new entry when this commits.
        await self.session.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": task_key(task_id)}
        )
        return event

    async def open_originals(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Task]:
        """Those of `ids` that a duplicate may join: open and not themselves duplicates; locked for the update."""
        if not ids:
            return {}
        statement = (
            select(Task)
            .where(Task.id.in_(ids), Task.workflow_stage.not_in(FINAL_STAGES), Task.duplicate_of.is_(None))
            .with_for_update()
        )
        return {task.id: task for task in await self.session.scalars(statement)}

    async def get_readable(self, user: User, key: str) -> Task | None:
        """By id or task number."""
        try:
            condition = Task.id == uuid.UUID(key)
        except ValueError:
            number = key.strip().upper()
            if not TASK_NUMBER.fullmatch(number):
                return None
            condition = Task.task_number == number
        return await self.session.scalar(self.readable_statement(user).where(condition))

    async def list_readable(self, user: User, query: TaskQuery) -> tuple[list[Task], int]:
        statement = self.readable_statement(user)
        filters = {
            Task.workflow_stage: query.stage,
            Task.issue_type: query.issue_type,
            Task.region: query.region,
            Task.priority_level: query.priority_level,
            Task.assignee_id: query.assignee,
            Task.team_id: query.team_id,
            Task.category: query.category,
        }
        for column, value in filters.items():
            if value is not None:
                statement = statement.where(column == value)
        if query.archived == "exclude":
            statement = statement.where(Task.archived_at.is_(None))
        elif query.archived == "only":
            statement = statement.where(Task.archived_at.is_not(None))
        if query.q:
            pattern = f"%{_escape_like(query.q)}%"
            statement = statement.where(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        page = statement.order_by(Task.created_at.desc(), Task.id.desc()).limit(query.limit).offset(query.offset)
        return list(await self.session.scalars(page)), int(total or 0)

    async def archive_finished(self, before: datetime, *, limit: int) -> list[uuid.UUID]:
        """Archive up to `limit` closed or rejected tasks whose last stage began before `before`; their ids."""
        due = (
            select(Task.id)
            .where(Task.workflow_stage.in_(FINAL_STAGES), Task.archived_at.is_(None), Task.stage_entered_at < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        archived = await self.session.scalars(
            update(Task).where(Task.id.in_(due)).values(archived_at=func.now()).returning(Task.id)
        )
        return list(archived)

    async def events(self, task_id: uuid.UUID) -> list[TaskEvent]:
        statement = select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        return list(await self.session.scalars(statement))

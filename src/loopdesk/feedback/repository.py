"""The only code that queries the feedback tables. Reads go through `readable_statement`: a customer
reads the tasks they reported (or joined as a duplicate's reporter); staff and admins read all."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import FINAL_STAGES, TASK_NUMBER_SEQ, Task, TaskEvent, TaskReporter
from loopdesk.feedback.schemas import TaskQuery
from loopdesk.runtime.runs.events import CHANNEL
from loopdesk.users.models import User

TASK_NUMBER = re.compile(r"FB-\d{4}-\d{6,}")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def task_key(task_id: uuid.UUID | str) -> str:
    """The event bus key that wakes followers of a task when its timeline grows."""
    return f"task/{task_id}"


class TaskRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def readable_statement(self, user: User) -> Select[tuple[Task]]:
        statement = select(Task)
        if user.is_staff:
            return statement
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

    async def reporter_ids(self, task_id: uuid.UUID) -> list[uuid.UUID]:
        statement = (
            select(TaskReporter.user_id).where(TaskReporter.task_id == task_id).order_by(TaskReporter.created_at)
        )
        return list(await self.session.scalars(statement))

    async def get_for_update(self, task_id: uuid.UUID) -> Task | None:
        return await self.session.scalar(select(Task).where(Task.id == task_id).with_for_update())

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
        }
        for column, value in filters.items():
            if value is not None:
                statement = statement.where(column == value)
        if query.q:
            pattern = f"%{_escape_like(query.q)}%"
            statement = statement.where(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        page = statement.order_by(Task.created_at.desc(), Task.id.desc()).limit(query.limit).offset(query.offset)
        return list(await self.session.scalars(page)), int(total or 0)

    async def events(self, task_id: uuid.UUID) -> list[TaskEvent]:
        statement = select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        return list(await self.session.scalars(statement))

"""The reads log analysis needs that the owners of the tables do not offer yet: which modules and services the
log store knows in a time range, how many distinct users and sessions an area's records carry, and which tasks
are open suggestions. They belong in `triage/store/service.py` and `feedback/repository.py`; they sit here only
until those files' owners take them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import FINAL_STAGES, Task
from loopdesk.triage.store.fields import ERROR_SEVERITY
from loopdesk.triage.store.models import LogRecord
from loopdesk.triage.store.service import module_filter, time_filter

MAX_NAMES = 500
# Where loggers put who and which session (snake case, camel case, OpenTelemetry's `user.id` / `session.id`).
USER_KEYS = ("user_id", "userId", "user.id", "uid")
SESSION_KEYS = ("session_id", "sessionId", "session.id")


@dataclass(frozen=True, slots=True)
class LogNames:
    modules: frozenset[str]
    services: frozenset[str]


@dataclass(frozen=True, slots=True)
class AreaUsage:
    records: int
    errors: int
    users: int
    sessions: int


async def log_names(session: AsyncSession, start: datetime, end: datetime) -> LogNames:
    """The distinct modules and services of the records in [start, end)."""
    found = {}
    for column in (LogRecord.module, LogRecord.service):
        statement = select(column).where(time_filter(start, end), column.is_not(None)).group_by(column).limit(MAX_NAMES)
        found[column.key] = frozenset(await session.scalars(statement))
    return LogNames(modules=found["module"], services=found["service"])


def _attribute(keys: Sequence[str]) -> ColumnElement[str]:
    return func.coalesce(*(LogRecord.attributes[key].astext for key in keys))


async def area_usage(session: AsyncSession, modules: Sequence[str], start: datetime, end: datetime) -> AreaUsage:
    """Records (and errors) of the modules, their children and services of those names in [start, end), and the
    distinct users and sessions their attributes name."""
    statement = select(
        func.count(),
        func.count().filter(LogRecord.severity >= ERROR_SEVERITY),
        func.count(distinct(_attribute(USER_KEYS))),
        func.count(distinct(_attribute(SESSION_KEYS))),
    ).where(time_filter(start, end), module_filter(modules, services=True))
    records, errors, users, sessions = (await session.execute(statement)).one()
    return AreaUsage(records=int(records), errors=int(errors), users=int(users), sessions=int(sessions))


async def open_suggestions(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Task number by id, of those of `ids` that are open suggestions (not closed, rejected or a duplicate)."""
    if not ids:
        return {}
    statement = select(Task.id, Task.task_number).where(
        Task.id.in_(ids),
        Task.issue_type == "suggestion",
        Task.workflow_stage.not_in(FINAL_STAGES),
        Task.duplicate_of.is_(None),
    )
    return {row.id: row.task_number for row in await session.execute(statement)}

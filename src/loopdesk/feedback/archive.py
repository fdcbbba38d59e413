"""Archiving finished tasks: closed and rejected tasks whose last stage began more than
LOOPDESK_FEEDBACK_ARCHIVE_AFTER_DAYS ago get `archived_at` (and an `archived` timeline entry). They leave the
default task list, stay readable and searchable (`GET /api/v1/tasks?archived=include|only`), and a reopened task
is active again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from loopdesk.core.db import Database
from loopdesk.feedback.repository import TaskRepository

log = structlog.get_logger("loopdesk.feedback.archive")

BATCH = 500


async def archive_finished(database: Database, *, after_days: float, now: datetime | None = None) -> int:
    """Archive what is due, in batches; returns how many tasks were archived."""
    if after_days <= 0:
        return 0
    before = (now or datetime.now(UTC)) - timedelta(days=after_days)
    total = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            repository = TaskRepository(session)
            ids = await repository.archive_finished(before, limit=BATCH)
            for task_id in ids:
                await repository.add_event(task_id, "archived", reason=f"finished more than {after_days:g} days ago")
        total += len(ids)
        if len(ids) < BATCH:
            break
    if total:
        log.info("feedback.tasks.archived", count=total)
    return total

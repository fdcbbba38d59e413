"""The threads domain's queue task: deleting threads past their TTL."""

from __future__ import annotations

import procrastinate
import structlog

from loopdesk.core.db import Database
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.queue import QUEUE, WorkerContext
from loopdesk.runtime.threads.deletion import delete_threads
from loopdesk.runtime.threads.repository import ThreadRepository

log = structlog.get_logger("loopdesk.worker")

TTL_TASK = "loopdesk.sweep_expired_threads"


async def sweep_expired_threads(database: Database, persistence: Persistence) -> int:
    """Threads past their TTL (and not busy) go, like any deleted thread; returns how many."""
    async with database.sessionmaker() as session, session.begin():
        expired = await ThreadRepository(session).expired_ids()
        await delete_threads(session, persistence, expired)
    if expired:
        log.info("worker.threads_expired", count=len(expired))
    return len(expired)


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    @app.periodic(cron="* * * * *")
    @app.task(name=TTL_TASK, queue=QUEUE)
    async def sweep_expired_threads_task(timestamp: int) -> None:
        await sweep_expired_threads(context.database, context.persistence)

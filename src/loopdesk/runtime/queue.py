"""The task queue: procrastinate on the same PostgreSQL. The API enqueues and aborts jobs with the
queue's own SQL functions inside its transactions (a run row and its job commit together or not at
all); workers are procrastinate workers, in `serve` or in `loopdesk worker` processes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from loopdesk.core.db import Database
    from loopdesk.core.ratelimit import RateLimiter
    from loopdesk.core.settings import Settings
    from loopdesk.runtime.graphs import GraphRegistry
    from loopdesk.runtime.persistence import Persistence
    from loopdesk.runtime.runs.events import Publisher

QUEUE = "loopdesk"
RUN_TASK = "loopdesk.execute_run"
WEBHOOK_TASK = "loopdesk.deliver_webhook"
OPENAPI_TASK = "loopdesk.import_openapi"


@dataclass(frozen=True)
class WorkerContext:
    """What a domain's tasks are built with (each domain registers its own: `<domain>/tasks.py`)."""

    settings: Settings
    database: Database
    persistence: Persistence
    graphs: GraphRegistry
    publisher: Publisher | None
    limiter: RateLimiter


async def defer(
    session: AsyncSession,
    task_name: str,
    args: dict[str, Any],
    *,
    lock: str | None = None,
    scheduled_at: datetime | None = None,
    priority: int = 0,
) -> int:
    """Enqueue a job in the session's transaction; returns the job id."""
    result = await session.execute(
        text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, NULL,"
            " CAST(:args AS jsonb), :scheduled_at)::procrastinate_job_to_defer_v1]))"
        ),
        {
            "queue": QUEUE,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "args": json.dumps(args),
            "scheduled_at": scheduled_at,
        },
    )
    return int(result.scalar_one())


async def abort(session: AsyncSession, job_id: int) -> None:
    """Cancel a waiting job, or ask the worker executing it to stop (it is told through NOTIFY)."""
    await session.execute(text("SELECT procrastinate_cancel_job_v1(:job_id, true, false)"), {"job_id": job_id})

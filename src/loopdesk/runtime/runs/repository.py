"""The statements of a run's hot path, one round trip each, in plain psycopg (no ORM unit of work): the
API creating a run with its queue job, a worker taking it up and recording its outcome. Each takes the
thread's row lock before the run's, the lock order everywhere.

The common case only: when a statement finds nothing to do (a cancel waiting, attempts used up, the
run or its thread gone, a webhook to send) it returns None and the caller takes the general path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from loopdesk.runtime.queue import QUEUE, RUN_TASK
from loopdesk.runtime.runs.events import CHANNEL, dumps, final_payload, thread_key
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.threads.messages import USER_TYPES, message_rows
from loopdesk.runtime.threads.models import Thread

# The run's queue job, the run (with the job's id; its server defaults come back), its thread busy with the
# assistant's ids in its metadata, and the wake-up of the thread's followers: one statement, inside the caller's
# transaction (the thread's row is already locked), so that run and job commit together or not at all.
_CREATE = """
WITH job AS (
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(%(queue)s, %(task)s, 0, %(lock)s, NULL,
        %(args)s::jsonb, %(scheduled_at)s::timestamptz)::procrastinate_job_to_defer_v1])) AS id
), run AS (
    INSERT INTO runs (run_id, thread_id, owner_id, assistant_id, status, metadata, kwargs, multitask_strategy,
                      attempt, job_id)
    SELECT %(run_id)s, %(thread_id)s, %(owner_id)s, %(assistant_id)s, 'pending', %(metadata)s, %(kwargs)s,
           %(multitask_strategy)s, 0, job.id FROM job
    RETURNING job_id, created_at, updated_at, seq
), thread AS (
    UPDATE threads SET metadata = metadata || %(thread_metadata)s, status = 'busy', updated_at = now()
    WHERE thread_id = %(thread_id)s RETURNING metadata, updated_at
)
SELECT run.*, thread.metadata AS thread_metadata, thread.updated_at AS thread_updated_at,
       pg_notify(%(channel)s, %(thread_key)s)
FROM run, thread
"""

# Thread lock (found by the run's id), then the run: pending or handed back, no cancel waiting, attempts left.
# The thread reads busy again (it already does unless a cancel settled it); `last_seq`: where the log goes on.
_START = """
WITH thread AS (
    SELECT t.thread_id FROM threads t JOIN runs r ON r.thread_id = t.thread_id
    WHERE r.run_id = %(run_id)s FOR UPDATE OF t
), run AS (
    UPDATE runs SET status = 'running', attempt = attempt + 1, updated_at = now()
    WHERE run_id = %(run_id)s AND thread_id = (SELECT thread_id FROM thread)
      AND status IN ('pending', 'running') AND cancel_action IS NULL AND attempt < %(max_attempts)s
    RETURNING run_id, thread_id, attempt, kwargs, metadata, owner_id, assistant_id
), busy AS (
    UPDATE threads SET status = 'busy' WHERE thread_id = (SELECT thread_id FROM run) AND status <> 'busy'
)
SELECT run.*, (SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = %(run_id)s) AS last_seq FROM run
"""

# Thread lock, then the run's outcome (unless a cancel was accepted meanwhile, or a later attempt took the run up:
# the attempt is its fencing token, see runs.fencing), the log's last events, the thread's
# state (busy while other runs wait, else interrupted / error / idle; values and interrupts copied; its expiry),
# the times of its new messages, and the wake-up of the run's waiters: all or nothing.
_FINISH = """
WITH thread AS (
    SELECT thread_id, ttl_minutes FROM threads WHERE thread_id = %(thread_id)s FOR UPDATE
), run AS (
    UPDATE runs SET status = %(status)s, output = %(output)s::jsonb, error = %(error)s, updated_at = now()
    WHERE run_id = %(run_id)s AND thread_id = (SELECT thread_id FROM thread) AND cancel_action IS NULL
      AND attempt = %(attempt)s
    RETURNING run_id, thread_id, created_at, updated_at
), last AS (
    SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = %(run_id)s
), events AS (
    INSERT INTO run_events (run_id, seq, event, data)
    SELECT run.run_id, last.seq + t.n, t.event, t.data
    FROM run, last, unnest(%(events)s::text[], %(datas)s::text[]) WITH ORDINALITY AS t(event, data, n)
), settled AS (
    UPDATE threads t SET
        values = coalesce(%(values)s, t.values),
        interrupts = %(interrupts)s,
        status = CASE
            WHEN EXISTS (SELECT 1 FROM runs o WHERE o.thread_id = t.thread_id AND o.run_id <> %(run_id)s
                         AND o.status IN ('pending', 'running')) THEN 'busy'
            WHEN %(interrupted)s THEN 'interrupted'
            WHEN %(failed)s THEN 'error'
            ELSE 'idle' END,
        updated_at = now(),
        expires_at = CASE
            WHEN %(temporary)s THEN now() + interval '5 minutes'
            WHEN t.ttl_minutes > 0 THEN now() + make_interval(secs => t.ttl_minutes * 60)
            ELSE t.expires_at END
    FROM run WHERE t.thread_id = run.thread_id
), stamped AS (
    INSERT INTO thread_messages (thread_id, message_id, run_id, created_at)
    SELECT %(thread_id)s, m.id, run.run_id, CASE WHEN m.said THEN run.created_at ELSE now() END
    FROM run, unnest(%(message_ids)s::text[], %(said)s::bool[]) AS m(id, said)
    ON CONFLICT DO NOTHING
)
SELECT run.created_at, run.updated_at, pg_notify(%(channel)s, %(final)s) FROM run
"""


async def create(db: AsyncSession, run: Run, thread: Thread, *, scheduled_at: datetime | None = None) -> None:
    """Insert `run` (pending, its fields set) with its queue job in `db`'s transaction; the thread (locked by the
    caller) turns busy and takes the run's graph and assistant in its metadata. Both objects are then as the
    database has them, without an ORM flush: the run persistent in `db`, the thread's changed fields committed."""
    await db.flush()  # what the caller changed first (a thread just created, runs cancelled) goes first
    connection = await (await db.connection()).get_raw_connection()
    params = {
        "queue": QUEUE,
        "task": RUN_TASK,
        "lock": str(run.thread_id),
        "args": Jsonb({"run_id": str(run.run_id)}),
        "scheduled_at": scheduled_at,
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "owner_id": run.owner_id,
        "assistant_id": run.assistant_id,
        "metadata": Jsonb(run.metadata_, dumps=dumps),
        "kwargs": Jsonb(run.kwargs, dumps=dumps),
        "multitask_strategy": run.multitask_strategy,
        "thread_metadata": Jsonb(
            {"graph_id": run.kwargs["graph_id"], "assistant_id": str(run.assistant_id)}, dumps=dumps
        ),
        "channel": CHANNEL,
        "thread_key": thread_key(run.thread_id),
    }
    async with connection.driver_connection.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(_CREATE, params)
        row = await cursor.fetchone()
    assert row is not None  # the thread is locked by the caller: it is there
    run.status, run.attempt, run.cancel_action, run.output, run.error = "pending", 0, None, None, None
    run.job_id, run.seq = row["job_id"], row["seq"]
    run.created_at, run.updated_at = row["created_at"], row["updated_at"]
    make_transient_to_detached(run)  # as if loaded: db.add makes it persistent, with nothing to flush
    db.add(run)
    set_committed_value(thread, "metadata_", row["thread_metadata"])
    set_committed_value(thread, "status", "busy")
    set_committed_value(thread, "updated_at", row["thread_updated_at"])


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run a worker holds: what it executes, read once (no database session stays open while the graph
    runs), whether an earlier attempt took it up, a cancel waiting, and where its event log goes on."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    attempt: int
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    owner_id: uuid.UUID
    assistant_id: uuid.UUID
    resumed: bool  # taken up before: continue from its last checkpoint
    cancel_action: str | None = None
    last_seq: int | None = None  # None: not read with the run

    @classmethod
    def of(cls, run: Run, *, resumed: bool) -> ClaimedRun:
        return cls(
            run_id=run.run_id,
            thread_id=run.thread_id,
            attempt=run.attempt,
            kwargs=dict(run.kwargs),
            metadata=dict(run.metadata_),
            owner_id=run.owner_id,
            assistant_id=run.assistant_id,
            resumed=resumed,
            cancel_action=run.cancel_action,
        )


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=dumps)


async def start(pool: AsyncConnectionPool, run_id: uuid.UUID, *, max_attempts: int) -> ClaimedRun | None:
    """Take the run up (running, one more attempt); None when it needs the general path."""
    async with pool.connection() as conn:
        cursor = await conn.execute(_START, {"run_id": run_id, "max_attempts": max_attempts})
        row = await cursor.fetchone()
    if row is None:
        return None
    return ClaimedRun(
        run_id=row["run_id"],
        thread_id=row["thread_id"],
        attempt=row["attempt"],
        kwargs=row["kwargs"],
        metadata=row["metadata"],
        owner_id=row["owner_id"],
        assistant_id=row["assistant_id"],
        resumed=row["attempt"] > 1,  # an earlier attempt took it up
        last_seq=row["last_seq"],
    )


async def finish(
    pool: AsyncConnectionPool,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    *,
    attempt: int,
    status: str,
    output: Any,
    error: dict[str, Any] | None,
    events: list[tuple[str, Any]],
    values: Any,
    interrupts: dict[str, Any],
    temporary: bool,
) -> tuple[datetime, datetime] | None:
    """Record the run's outcome with its thread's state in one statement: (created_at, updated_at), or None
    when nothing was recorded (a cancel accepted meanwhile, a later attempt holds the run, the run or its thread
    gone)."""
    messages = message_rows(values)
    output_json = dumps(output)  # serialised once: for the row and for the waiters' notification
    params = {
        "run_id": run_id,
        "thread_id": thread_id,
        "attempt": attempt,
        "status": status,
        "output": None if output is None else output_json,
        "error": _json(error),
        "events": [name for name, _ in events],
        "datas": [dumps(data) for _, data in events],
        "values": _json(values),
        "interrupts": Jsonb(interrupts, dumps=dumps),
        "interrupted": bool(interrupts),
        "failed": error is not None,
        "temporary": temporary,
        "message_ids": [message_id for message_id, _ in messages],
        "said": [kind in USER_TYPES for _, kind in messages],
        "channel": CHANNEL,
        "final": final_payload(run_id, status, output_json),  # waiters take the outcome from it
    }
    async with pool.connection() as conn:
        cursor = await conn.execute(_FINISH, params)
        row = await cursor.fetchone()
    return None if row is None else (row["created_at"], row["updated_at"])

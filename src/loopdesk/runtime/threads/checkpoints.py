"""Checkpoint operations the Postgres saver lacks (it has no `acopy_thread`): plain SQL on its tables."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

_COPY = (
    """INSERT INTO checkpoints
              (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
       SELECT %(target)s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
              CASE WHEN metadata ? 'thread_id' THEN jsonb_set(metadata, '{thread_id}', to_jsonb(%(target)s::text))
                   ELSE metadata END
       FROM checkpoints WHERE thread_id = %(source)s""",
    """INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
       SELECT %(target)s, checkpoint_ns, channel, version, type, blob
       FROM checkpoint_blobs WHERE thread_id = %(source)s""",
    """INSERT INTO checkpoint_writes
              (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
       SELECT %(target)s, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path
       FROM checkpoint_writes WHERE thread_id = %(source)s""",
)


async def copy_checkpoints(pool: AsyncConnectionPool, source: str, target: str) -> None:
    """Give `target` the whole checkpoint history of `source`, in one transaction."""
    async with pool.connection() as conn, conn.transaction():
        for statement in _COPY:
            await conn.execute(statement, {"source": source, "target": target})

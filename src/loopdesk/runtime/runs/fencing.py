"""Fencing a run's attempts: only the attempt that took the run up last may write for it.

Each time a worker takes a run up, the run's `attempt` goes up by one (repository.start): that number is the
attempt's fencing token. Every write an attempt makes for its run (checkpoints, event-log batches, its outcome,
handing it back) checks the token in the same transaction, under a share lock on the run's row: a later
attempt's take-up (an UPDATE of that row) either committed first, and the stale write is refused, or waits until
the write committed, and then continues from it. A stale attempt (its worker was judged dead while it was only
slow) thus cannot overwrite the live one's progress; it learns at its next write and stops (StaleAttempt).

A side effect inside a step may still run twice when a worker dies (or is judged dead) between doing it and
committing the step's checkpoint: the commit window."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres import _ainternal
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

# The fence: the run is still this attempt's. FOR SHARE: a take-up's UPDATE of the row waits for the write's commit.
FENCE = "SELECT 1 FROM runs WHERE run_id = %s AND attempt = %s FOR SHARE"


class StaleAttempt(Exception):
    """A later attempt took the run up: this one's writes are refused and it stops."""

    def __init__(self, run_id: uuid.UUID, attempt: int):
        super().__init__(f"run {run_id}: attempt {attempt} was superseded by a later attempt")
        self.run_id = run_id
        self.attempt = attempt


class FencedSaver(AsyncPostgresSaver):
    """LangGraph's Postgres checkpointer for one attempt of one run: each write (a checkpoint with its blobs, a
    task's writes) is one transaction that commits only while the attempt holds the run. Reads are unchanged.

    One saver per attempt also means one lock per run: the shared saver's lock serialised every run's writes."""

    def __init__(self, pool: AsyncConnectionPool, run_id: uuid.UUID, attempt: int, *, serde=None):  # noqa: ANN001
        super().__init__(pool, serde=serde)
        self.run_id = run_id
        self.attempt = attempt

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if not pipeline:  # reads (and the saver's own set-up)
            async with super()._cursor(pipeline=False) as cursor:
                yield cursor
            return
        # The saver's writes ask for a pipeline: here a pipeline inside one transaction, the fence checked after
        # the writes were sent (one round trip in all); a refused fence rolls the writes back.
        async with self.lock, _ainternal.get_connection(self.conn) as conn, conn.transaction():
            if self.supports_pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cursor:
                    yield cursor
                    await cursor.execute(FENCE, (self.run_id, self.attempt))
                    held = await cursor.fetchone()
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cursor:
                    yield cursor
                    await cursor.execute(FENCE, (self.run_id, self.attempt))
                    held = await cursor.fetchone()
            if held is None:
                raise StaleAttempt(self.run_id, self.attempt)

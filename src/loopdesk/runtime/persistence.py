"""LangGraph's own persistence on one shared psycopg pool: the checkpoint saver (short-term memory per
thread) and the store (long-term memory). Their tables come from their `setup()` (see core.migrate)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from loopdesk.core.db import in_doubt, prepare_threshold

_returned_at: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()


async def _mark_returned(conn: AsyncConnection) -> None:
    _returned_at[conn] = time.monotonic()


async def _check_if_in_doubt(conn: AsyncConnection) -> None:
    if in_doubt(conn, time.monotonic() - _returned_at.get(conn, 0.0)):
        await AsyncConnectionPool.check_connection(conn)


@dataclass
class Persistence:
    pool: AsyncConnectionPool
    checkpointer: AsyncPostgresSaver
    store: AsyncPostgresStore

    @classmethod
    async def open(
        cls, url: str, *, max_size: int = 10, index: dict[str, Any] | None = None, prepared: bool = True
    ) -> Persistence:
        """`index` (langgraph.json store.index) turns on semantic search: its vector table is set up here,
        for the configured dimensions. `prepared`: as Database.connect's."""
        pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            # A connection the server dropped (restart, failover) is replaced, not handed out; only those in
            # doubt (idle for a while, or with the server's goodbye waiting) are checked by a round trip.
            check=_check_if_in_doubt,
            reset=_mark_returned,
            # What the saver expects: autocommit and dict rows.
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold(prepared), "row_factory": dict_row},
        )
        await pool.open(wait=True)
        store = AsyncPostgresStore(pool, index=index) if index else AsyncPostgresStore(pool)
        if index:
            await store.setup()
        return cls(pool=pool, checkpointer=AsyncPostgresSaver(pool), store=store)

    async def close(self) -> None:
        # The store batches operations in a background task of its own: end it with the pool.
        task = getattr(self.store, "_task", None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.pool.close()

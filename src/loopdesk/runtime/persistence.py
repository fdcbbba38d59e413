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

from loopdesk.core.db import prepare_threshold

IDLE_CHECK_SECONDS = 2.0
_returned_at: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()


async def _mark_returned(conn: AsyncConnection) -> None:
    _returned_at[conn] = time.monotonic()


async def _check_if_idle(conn: AsyncConnection) -> None:
    if time.monotonic() - _returned_at.get(conn, 0.0) > IDLE_CHECK_SECONDS:
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
            # A connection the server dropped (restart, failover) is replaced, not handed out; only those
            # idle for a while are checked, so busy pools pay no extra round trip per checkout.
            check=_check_if_idle,
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

"""LangGraph's own persistence on one shared psycopg pool: the checkpoint saver (short-term memory per
thread) and the store (long-term memory). Their tables come from their `setup()` (see core.migrate)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from loopdesk.core.db import check_if_in_doubt, mark_returned, prepare_threshold


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
            check=check_if_in_doubt,
            reset=mark_returned,
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

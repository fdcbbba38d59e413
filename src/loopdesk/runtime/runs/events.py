"""The durable event log of runs and its live wake-ups.

Every event a run produces is a row (run_id, seq, event, JSON text) written by the worker; readers
(SSE streams, joins, waits) read rows after the last seq they delivered, so a client that reconnects
with `Last-Event-ID` gets every later event exactly once, from any API process, also after restarts.
Writers NOTIFY the run id; each process keeps one LISTEN connection and wakes its local readers. A
missed notification costs at most one heartbeat interval: readers re-read on every heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.runtime.serde import to_jsonable

log = structlog.get_logger("loopdesk.runs.events")

CHANNEL = "loopdesk_run_events"
LINGER_SECONDS = 0.01
FINAL = ":end"  # suffix of the notification sent with a run's last event
_INSERT = (
    "WITH ins AS (INSERT INTO run_events (run_id, seq, event, data)"
    " SELECT %(run_id)s, s, e, d FROM unnest(%(seqs)s::int[], %(events)s::text[], %(datas)s::text[]) AS t(s, e, d)"
    " RETURNING 1)"
    " SELECT pg_notify(%(channel)s, %(run_key)s) FROM (SELECT 1 FROM ins LIMIT 1) AS one"
)


def dumps(data: Any) -> str:
    return orjson.dumps(data, default=to_jsonable, option=orjson.OPT_NON_STR_KEYS).decode()


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    event: str
    data: str  # JSON text


async def append_events(pool: AsyncConnectionPool, run_id: uuid.UUID, events: list[Event]) -> None:
    if not events:
        return
    async with pool.connection() as conn:
        await conn.execute(
            _INSERT,
            {
                "run_id": run_id,
                "seqs": [e.seq for e in events],
                "events": [e.event for e in events],
                "datas": [e.data for e in events],
                "channel": CHANNEL,
                "run_key": str(run_id),
            },
        )


async def fetch(pool: AsyncConnectionPool, query: str, params: tuple, *, attempts: int = 3) -> list[dict[str, Any]]:
    """A read for long-lived readers (streams, waits): a connection the server dropped is replaced and
    the read retried, instead of cutting the client's stream."""
    for attempt in range(attempts):
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(query, params)  # type: ignore[arg-type]
                return await cursor.fetchall()
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            await pool.check()  # drop every idle connection the server closed, not just this one
            await asyncio.sleep(0.1 * (attempt + 1))
    return []


async def read_events(pool: AsyncConnectionPool, run_id: uuid.UUID, after: int, limit: int = 500) -> list[Event]:
    rows = await fetch(
        pool,
        "SELECT seq, event, data FROM run_events WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
        (run_id, after, limit),
    )
    return [Event(row["seq"], row["event"], row["data"]) for row in rows]


async def last_seq(pool: AsyncConnectionPool, run_id: uuid.UUID) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = %s", (run_id,))
        row = await cursor.fetchone()
    return int(row["seq"]) if row else 0


class EventWriter:
    """Buffers a run's events and writes them in batches from a background task: the graph never waits
    on the database, and a burst of token chunks becomes one INSERT."""

    def __init__(self, pool: AsyncConnectionPool, run_id: uuid.UUID, next_seq: int):
        self.pool = pool
        self.run_id = run_id
        self.seq = next_seq - 1
        self._buffer: list[Event] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self._task = asyncio.create_task(self._flush_loop(), name=f"run-events-{run_id}")

    def emit(self, event: str, data: Any) -> None:
        if self._task.done():  # the writer failed: surface its error in the run
            self._task.result()
        self.seq += 1
        self._buffer.append(Event(self.seq, event, dumps(data)))
        self._ready.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._ready.wait()
            if not self._closing:  # let a burst (tokens, a fast step) join this batch; close() cuts it short
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), LINGER_SECONDS)
            self._ready.clear()
            batch, self._buffer = self._buffer, []
            await append_events(self.pool, self.run_id, batch)
            if self._closing and not self._buffer:
                return

    async def close(self) -> None:
        """Write whatever is buffered; returns when all of it is durable."""
        self._closing = True
        self._closed.set()
        self._ready.set()
        await self._task

    async def discard(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class EventBus:
    """One LISTEN connection per process; readers wait on an asyncio.Event per run."""

    def __init__(self, url: str):
        self.url = url
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="run-event-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._connected.set()
                    delay = 0.1
                    self._wake_all()  # anything written while we were away
                    async for notify in conn.notifies():
                        self.wake(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database went away: readers fall back to heartbeats
                log.warning("events.listen_failed", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def wake(self, payload: str) -> None:
        final = payload.endswith(FINAL)
        run_key = payload.removesuffix(FINAL)
        for waiter in self._waiters.get(run_key, ()):
            if final or not getattr(waiter, "final_only", False):
                waiter.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: uuid.UUID, *, final_only: bool = False) -> AsyncIterator[asyncio.Event]:
        """An event set when the run writes events (`final_only`: when it ends or goes away)."""
        key = str(run_id)
        waiter = _Waiter()
        waiter.final_only = final_only
        self._waiters[key].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[key].discard(waiter)
            if not self._waiters[key]:
                del self._waiters[key]


class _Waiter(asyncio.Event):
    final_only: bool = False


async def wait_for(waiter: asyncio.Event, seconds: float) -> bool:
    """Wait for a wake-up (True) or the timeout (False). Readers clear the event before each read."""
    try:
        await asyncio.wait_for(waiter.wait(), seconds)
    except TimeoutError:
        return False
    return True

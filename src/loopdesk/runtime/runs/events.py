"""The durable event log of runs and its live wake-ups.

Every event a run produces is a row (run_id, seq, event, JSON text) written by the worker; readers
(SSE streams, joins, waits) read rows after the last seq they delivered, so a client that reconnects
with `Last-Event-ID` gets every later event exactly once, from any API process, also after restarts.
Writers NOTIFY the run id and the batch's last seq; each process keeps one LISTEN connection and wakes
its local readers. Live events also travel by push (a publisher: in-process, or Redis pub/sub between
processes): a reader takes pushed events that follow on from its position and reads the log only when
it finds a gap, its bounded buffer overflowed, or a notification announces events it was not given.
A missed notification costs at most one heartbeat interval: readers re-read on every heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.core.metrics import EVENT_CATCHUPS, EVENTS_PUSHED
from loopdesk.runtime.runs.fencing import StaleAttempt
from loopdesk.runtime.serde import to_jsonable

log = structlog.get_logger("loopdesk.runs.events")

CHANNEL = "loopdesk_run_events"
LINGER_SECONDS = 0.01
FINAL = ":end"  # suffix of the notification sent with a run's last event
# A batch of a run's events, written only while the writing attempt holds the run (see runs.fencing): no row back
# means the fence refused it.
_INSERT = (
    "WITH fence AS (SELECT 1 FROM runs WHERE run_id = %(run_id)s AND attempt = %(attempt)s FOR SHARE),"
    " ins AS (INSERT INTO run_events (run_id, seq, event, data)"
    " SELECT %(run_id)s, s, e, d FROM fence,"
    " unnest(%(seqs)s::int[], %(events)s::text[], %(datas)s::text[]) AS t(s, e, d)"
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


class Publisher(Protocol):
    """Carries a run's freshly written events to readers (after they are durable)."""

    async def publish(self, run_id: uuid.UUID, events: list[Event]) -> None: ...


async def append_events(pool: AsyncConnectionPool, run_id: uuid.UUID, attempt: int, events: list[Event]) -> None:
    """Append `events` to the run's log for its attempt `attempt`; StaleAttempt when a later attempt holds the run."""
    if not events:
        return
    async with pool.connection() as conn:
        cursor = await conn.execute(
            _INSERT,
            {
                "run_id": run_id,
                "attempt": attempt,
                "seqs": [e.seq for e in events],
                "events": [e.event for e in events],
                "datas": [e.data for e in events],
                "channel": CHANNEL,
                "run_key": f"{run_id}:{events[-1].seq}",
            },
        )
        if await cursor.fetchone() is None:
            raise StaleAttempt(run_id, attempt)


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


async def has_event(pool: AsyncConnectionPool, run_id: uuid.UUID, seq: int) -> bool:
    """Whether the run's log holds event `seq` (a `Last-Event-ID` a reader may resume after)."""
    rows = await fetch(pool, "SELECT 1 FROM run_events WHERE run_id = %s AND seq = %s", (run_id, seq))
    return bool(rows)


class EventWriter:
    """Buffers a run's events and writes them in batches from a background task: the graph never waits
    on the database, and a burst of token chunks becomes one INSERT."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        run_id: uuid.UUID,
        attempt: int,
        next_seq: int,
        publisher: Publisher | None = None,
    ):
        """`attempt`: the writing attempt's fencing token (runs.fencing): a batch it may no longer write fails the
        writer with StaleAttempt, raised by the next `emit` or by `close`."""
        self.pool = pool
        self.publisher = publisher
        self.run_id = run_id
        self.attempt = attempt
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
            await append_events(self.pool, self.run_id, self.attempt, batch)
            if self.publisher is not None and batch:
                try:
                    await self.publisher.publish(self.run_id, batch)
                except Exception as exc:  # noqa: BLE001 - readers still get the events from the log
                    log.warning("events.publish_failed", run_id=str(self.run_id), error=type(exc).__name__)
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
    """One LISTEN connection per process (and, with Redis, one pattern subscription); readers wait on a
    `Waiter` per run or thread key."""

    def __init__(self, url: str, *, redis_url: str | None = None):
        self.url = url
        self.redis_url = redis_url
        self._waiters: dict[str, set[Waiter]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._listen(), name="run-event-bus"))
        if self.redis_url:
            from loopdesk.runtime.runs.redis_fanout import listen

            self._tasks.append(asyncio.create_task(listen(self, self.redis_url), name="run-event-bus-redis"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._connected.set()
                    delay = 0.1
                    self.wake_all()  # anything written while we were away
                    async for notify in conn.notifies():
                        self.wake(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database went away: readers fall back to heartbeats
                log.warning("events.listen_failed", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def wake(self, payload: str) -> None:
        """A notification: `<key>` (something changed), `<key>:<seq>` (events up to seq written) or
        `<key>:end` (the run is over or gone), perhaps followed by `=<status> <output as JSON>` (see
        `final_payload`): the outcome itself, which waiters then need not read."""
        payload, _, outcome = payload.partition("=")
        key, _, tail = payload.rpartition(":")
        if not key:
            key, tail = tail, ""
        waiters = self._waiters.get(key)
        if not waiters:
            return
        final = tail == FINAL[1:]
        seq = int(tail) if tail.isdigit() else 0
        ended = _outcome(outcome) if final and outcome else None
        for waiter in waiters:
            if final:
                waiter.final = True
                waiter.outcome = ended
                waiter.set()
            elif not waiter.final_only:
                waiter.notified = max(waiter.notified, seq)
                waiter.set()

    def deliver(self, key: str, events: list[Event]) -> None:
        """Pushed events of run `key` for the readers of this process."""
        for waiter in self._waiters.get(key, ()):
            if not waiter.final_only:
                waiter.push(events)

    def watching(self, key: str) -> bool:
        return key in self._waiters

    def wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.dirty = True
                waiter.set()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, *keys: uuid.UUID | str, final_only: bool = False, capacity: int = 1024
    ) -> AsyncIterator[Waiter]:
        """A waiter set when the runs (or threads: `thread_key(id)`) write or change; `final_only`: only
        when a run ends or goes away. Pushed events are kept up to `capacity` (then: read the log)."""
        waiter = Waiter(final_only=final_only, capacity=capacity)
        watched: list[str] = []
        try:
            for key in keys:
                self.watch(waiter, key)
                watched.append(str(key))
            yield waiter
        finally:
            for key in watched:
                self.unwatch(waiter, key)

    def watch(self, waiter: Waiter, key: uuid.UUID | str) -> None:
        self._waiters[str(key)].add(waiter)

    def unwatch(self, waiter: Waiter, key: uuid.UUID | str) -> None:
        key = str(key)
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[key]


# NOTIFY payloads must stay under 8000 bytes: a larger outcome is read from the run's row instead.
_OUTCOME_LIMIT = 7000


def final_payload(run_id: uuid.UUID, status: str, output_json: str) -> str:
    """The notification that a run ended, carrying its status and output (as JSON) when they are small."""
    text = output_json
    if len(text.encode()) > _OUTCOME_LIMIT:
        return f"{run_id}{FINAL}"
    return f"{run_id}{FINAL}={status} {text}"


def _outcome(text: str) -> tuple[str, Any] | None:
    status, _, output = text.partition(" ")
    try:
        return status, orjson.loads(output)
    except orjson.JSONDecodeError:
        return None  # not ours: the waiter reads the run instead


def thread_key(thread_id: uuid.UUID | str) -> str:
    """The bus key that wakes readers of a thread when a run is created on it or the thread goes."""
    return f"thread/{thread_id}"


def user_key(user_id: uuid.UUID | str) -> str:
    """The bus key that wakes a user's WebSockets when a notification is queued for them."""
    return f"user/{user_id}"


class Waiter(asyncio.Event):
    """A reader's wake-up, with the live events pushed to it (bounded) and what notifications said."""

    def __init__(self, *, final_only: bool = False, capacity: int = 1024):
        super().__init__()
        self.final_only = final_only
        self.capacity = capacity
        self.pending: deque[Event] = deque()
        self.notified = 0  # highest seq a notification announced
        self.final = False  # the run ended or went away: read the log
        self.outcome: tuple[str, Any] | None = None  # (status, output) the final notification carried
        self.dirty = True  # reconnects, heartbeats, first read: read the log
        self.overflows = 0

    def reset(self) -> None:
        """Follow another run: forget what was pushed and announced for the last one."""
        self.pending.clear()
        self.notified = 0
        self.final = False
        self.outcome = None
        self.dirty = True

    def push(self, events: list[Event]) -> None:
        if len(self.pending) + len(events) > self.capacity:
            self.pending.clear()  # too far behind: this reader catches up from the durable log
            self.dirty = True
            self.overflows += 1
            EVENT_CATCHUPS.inc()
        else:
            self.pending.extend(events)
        self.set()

    def take(self, after: int) -> list[Event] | None:
        """Pushed events that follow `after` without a gap ([] when there is nothing new), or None when
        the reader must read the log."""
        pending = self.pending
        while pending and pending[0].seq <= after:
            pending.popleft()
        if (
            self.dirty
            or self.final
            or (pending and pending[0].seq != after + 1)
            or (not pending and self.notified > after)
        ):
            self.dirty = self.final = False
            return None
        taken: list[Event] = []
        while pending and pending[0].seq == after + 1:
            event = pending.popleft()
            taken.append(event)
            after = event.seq
        return taken


async def next_events(
    pool: AsyncConnectionPool, waiter: Waiter, run_id: uuid.UUID, after: int
) -> tuple[list[Event], bool]:
    """The run's next events after `after`: pushed ones when they follow on, else from the log.
    Returns (events, read_the_log)."""
    taken = waiter.take(after)
    if taken is not None:
        return taken, False
    events = await read_events(pool, run_id, after)
    return events, True


async def wait_for(waiter: asyncio.Event, seconds: float) -> bool:
    """Wait for a wake-up (True) or the timeout (False, and the next read goes to the log)."""
    try:
        await asyncio.wait_for(waiter.wait(), seconds)
    except TimeoutError:
        if isinstance(waiter, Waiter):
            waiter.dirty = True
        return False
    return True


class LocalPublisher:
    """Pushes events to this process's readers (a worker inside `serve`, no Redis)."""

    def __init__(self, bus: EventBus):
        self.bus = bus

    async def publish(self, run_id: uuid.UUID, events: list[Event]) -> None:
        self.bus.deliver(str(run_id), events)
        if self.bus.watching(str(run_id)):
            EVENTS_PUSHED.labels("local").inc(len(events))

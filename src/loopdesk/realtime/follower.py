"""Following a thread for one WebSocket: its runs in creation order (`runs.seq`), each run's events
in log order, translated into frames. Every socket of every process reads the same log in the same
order, so all devices see the same frames in the same order, and a position (an event id) means the
same thing everywhere: resuming on another API process replays exactly what was missed.

The follower sends at the socket's pace: a slow client only delays its own follower. Live events are
pushed into a bounded buffer (see runs/events.py); when the follower falls too far behind, the
buffer is dropped and the follower catches up from the durable log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.realtime.frames import RunFrames, user_text
from loopdesk.runtime.runs.events import EventBus, Waiter, fetch, last_seq, next_events, thread_key, wait_for
from loopdesk.runtime.runs.streaming import run_outcome

log = structlog.get_logger("loopdesk.realtime")

NOTHING_SKIPPED = (-1, -1)
IDLE_RECHECK_SECONDS = 60.0
EVERYTHING_SO_FAR = 2**62

_RUN = "SELECT run_id, seq, owner_id, kwargs->'input' AS input FROM runs"
_INFLIGHT_RUN = _RUN + " WHERE thread_id = %s AND status IN ('pending', 'running') ORDER BY seq LIMIT 1"
_RUN_ON_THREAD = _RUN + " WHERE run_id = %s AND thread_id = %s"
_NEXT_RUN = _RUN + " WHERE thread_id = %s AND seq > %s ORDER BY seq LIMIT 1"


@dataclass(frozen=True)
class RunRow:
    run_id: uuid.UUID
    seq: int
    owner_id: uuid.UUID | None
    input: Any

    @classmethod
    def of(cls, row: dict[str, Any]) -> RunRow:
        return cls(row["run_id"], int(row["seq"]), row["owner_id"], row["input"])


@dataclass
class Position:
    """Where a follower starts: inside `run`, after frame `skip` = (seq, n) of it; or, with no run, at
    the first run created after the run with seq `tail`."""

    tail: int = 0
    run: RunRow | None = None
    skip: tuple[int, int] = NOTHING_SKIPPED


async def position_now(pool: AsyncConnectionPool, thread_id: uuid.UUID) -> Position:
    """From now on: the rest of the run in progress (if any), then every later run."""
    rows = await fetch(pool, _INFLIGHT_RUN, (thread_id,))
    if rows:
        run = RunRow.of(rows[0])
        return Position(tail=run.seq - 1, run=run, skip=(await last_seq(pool, run.run_id), EVERYTHING_SO_FAR))
    rows = await fetch(pool, "SELECT coalesce(max(seq), 0) AS seq FROM runs WHERE thread_id = %s", (thread_id,))
    return Position(tail=int(rows[0]["seq"]))


async def position_after(
    pool: AsyncConnectionPool, thread_id: uuid.UUID, run_id: uuid.UUID, seq: int, n: int
) -> Position | None:
    """Just after the frame with this id; None when the run is not (or no longer) on the thread."""
    rows = await fetch(pool, _RUN_ON_THREAD, (run_id, thread_id))
    if not rows:
        return None
    run = RunRow.of(rows[0])
    return Position(tail=run.seq - 1, run=run, skip=(seq, n))


@dataclass
class _Current:
    run: RunRow
    frames: RunFrames
    skip: tuple[int, int]
    after: int = 0


Send = Callable[[dict[str, Any]], Awaitable[None]]


class ThreadFollower:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: EventBus,
        thread_id: uuid.UUID,
        start: Position,
        send: Send,
        reply: Send,
        *,
        heartbeat: float,
        capacity: int,
    ):
        self.pool = pool
        self.bus = bus
        self.thread_id = thread_id
        self.position = start
        self.send = send  # frames with their own (run event) ids
        self.reply = reply  # frames about the subscription: the connection numbers them
        self.heartbeat = heartbeat
        self.capacity = capacity

    async def run(self) -> None:
        async with self.bus.subscribe(thread_key(self.thread_id), capacity=self.capacity) as waiter:
            current = await self._enter(waiter, self.position.run, self.position.skip) if self.position.run else None
            tail = self.position.tail
            delay = 0.1
            while True:
                try:
                    if current is None:
                        current, tail, alive = await self._advance(waiter, tail)
                        if not alive:
                            await self.reply(
                                {
                                    "type": "error",
                                    "code": "thread_deleted",
                                    "message": "The thread was deleted",
                                    "thread_id": str(self.thread_id),
                                }  # fmt: skip
                            )
                            return
                    elif await self._follow(waiter, current):
                        self.bus.unwatch(waiter, current.run.run_id)
                        tail, current = current.run.seq, None
                    delay = 0.1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # the database blinked: retry
                    log.warning("realtime.follow_retry", thread_id=str(self.thread_id), error=type(exc).__name__)
                    waiter.dirty = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

    async def _advance(self, waiter: Waiter, tail: int) -> tuple[_Current | None, int, bool]:
        """At the tail: enter the next run once there is one. Returns (current, tail, thread exists)."""
        waiter.clear()
        rows = await fetch(self.pool, _NEXT_RUN, (self.thread_id, tail))
        if rows:
            return await self._enter(waiter, RunRow.of(rows[0]), NOTHING_SKIPPED), tail, True
        exists = await fetch(self.pool, "SELECT 1 AS one FROM threads WHERE thread_id = %s", (self.thread_id,))
        if not exists:
            return None, tail, False
        # Run creation and thread deletion notify the thread's key (and a LISTEN reconnect wakes every
        # reader), so an idle follower need not poll: it re-checks once a minute as a safety net only.
        await wait_for(waiter, max(self.heartbeat, IDLE_RECHECK_SECONDS))
        return None, tail, True

    async def _enter(self, waiter: Waiter, run: RunRow, skip: tuple[int, int]) -> _Current:
        waiter.reset()
        self.bus.watch(waiter, run.run_id)
        current = _Current(run=run, frames=RunFrames(str(self.thread_id), str(run.run_id)), skip=skip)
        content = user_text(run.input)
        if content is not None:
            for n, frame in current.frames.user_message(content, str(run.owner_id) if run.owner_id else None):
                if (0, n) > skip:
                    await self.send(frame)
        return current

    async def _follow(self, waiter: Waiter, current: _Current) -> bool:
        """Send what the run wrote since last time; True when the run is over (or gone)."""
        waiter.clear()
        events, from_log = await next_events(self.pool, waiter, current.run.run_id, current.after)
        for event in events:
            current.after = event.seq
            status = None
            if event.event == "end":
                outcome = await run_outcome(self.pool, current.run.run_id)
                status = outcome[0] if outcome else "success"
            for n, frame in current.frames.translate(event, status=status):
                if (event.seq, n) > current.skip:
                    await self.send(frame)
            if event.event == "end":
                return True
        if events:
            return False
        if from_log and await run_outcome(self.pool, current.run.run_id) is None:
            return True  # rolled back or deleted with its thread
        await wait_for(waiter, self.heartbeat)
        return False

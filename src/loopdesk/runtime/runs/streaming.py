"""Reading runs back: SSE streams from the durable event log (replay from `Last-Event-ID`, then live,
with `: heartbeat` comments while idle) and waits for a run's outcome. Both end early, with an `error`,
when the caller's credential is revoked (auth/watch.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from loopdesk.auth.credentials import CredentialRevoked
from loopdesk.core.errors import error_body
from loopdesk.runtime.runs.events import Event, EventBus, dumps, fetch, next_events, wait_for
from loopdesk.runtime.runs.schemas import TERMINAL

ALWAYS_SENT = {"metadata", "error", "end"}


def _base_mode(event: str) -> str:
    return event.split("|", 1)[0].split("/", 1)[0]


def mode_filter(modes: list[str] | None) -> set[str] | None:
    """Event base names a join-stream asked for (None: everything the run records)."""
    if not modes:
        return None
    return {"messages" if m == "messages-tuple" else m for m in modes} | ALWAYS_SENT


async def run_outcome(pool: AsyncConnectionPool, run_id: uuid.UUID) -> tuple[str, Any] | None:
    """(status, output) of a run, None when it no longer exists."""
    rows = await fetch(pool, "SELECT status, output FROM runs WHERE run_id = %s", (run_id,))
    return (rows[0]["status"], rows[0]["output"]) if rows else None


async def log_events(
    pool: AsyncConnectionPool, bus: EventBus, run_id: uuid.UUID, *, after: int = 0, heartbeat: float = 10.0
) -> AsyncIterator[Event | None]:
    """Every event of the run after `after`, in order, ending with `end` (seq 0 when the run was
    deleted meanwhile); None after each idle heartbeat interval. One reader for every stream format."""
    async with bus.subscribe(run_id) as waiter:
        while True:
            waiter.clear()
            events, from_log = await next_events(pool, waiter, run_id, after)
            for event in events:
                after = event.seq
                yield event
                if event.event == "end":
                    return
            if events:
                continue
            if from_log and await run_outcome(pool, run_id) is None:  # deleted (rolled back) meanwhile
                yield Event(0, "end", "null")
                return
            if not await wait_for(waiter, heartbeat):
                yield None


async def sse_events(
    pool: AsyncConnectionPool,
    bus: EventBus,
    run_id: uuid.UUID,
    *,
    after: int = 0,
    modes: set[str] | None = None,
    heartbeat: float = 10.0,
) -> AsyncIterator[bytes]:
    """Every event of the run after `after`, in order, ending with `end`."""
    async for event in log_events(pool, bus, run_id, after=after, heartbeat=heartbeat):
        if event is None:
            yield b": heartbeat\n\n"
        elif event.seq == 0:
            yield b"event: end\ndata: null\n\n"
        elif modes is None or _base_mode(event.event) in modes:
            yield f"event: {event.event}\ndata: {event.data}\nid: {event.seq}\n\n".encode()


async def wait_outcome(
    pool: AsyncConnectionPool, bus: EventBus, run_id: uuid.UUID, *, heartbeat: float = 10.0
) -> AsyncIterator[bytes | tuple[str, Any] | None]:
    """Yields b"\\n" keep-alives while the run goes on, then its (status, output) (None if it is gone).
    A cancelled run is waited for until its worker has stopped (it clears `cancel_action`), though it
    reads `interrupted` at once. One read per wake-up (the outcome and whether a cancel is still pending),
    none when the run's final notification carried its outcome."""
    async with bus.subscribe(run_id, final_only=True) as waiter:
        while True:
            waiter.clear()
            if waiter.outcome is not None:
                yield waiter.outcome
                return
            rows = await fetch(
                pool,
                "SELECT status, output, cancel_action IS NOT NULL AS stopping FROM runs WHERE run_id = %s",
                (run_id,),
            )
            if not rows or (rows[0]["status"] in TERMINAL and not rows[0]["stopping"]):
                yield (rows[0]["status"], rows[0]["output"]) if rows else None
                return
            if not await wait_for(waiter, heartbeat):
                yield b"\n"


def access_ended_event(reason: str) -> bytes:
    """The last event of a stream whose credential was revoked: no `end`, the run itself goes on."""
    data = dumps({"error": "CredentialRevoked", "message": CredentialRevoked(reason).message})
    return f"event: error\ndata: {data}\n\n".encode()


def access_ended_body(reason: str) -> bytes:
    """What a waiting (JSON) response ends with instead of the outcome when its credential is revoked."""
    error = CredentialRevoked(reason)
    return dumps(error_body(error.code, error.message, error.detail)).encode()


_background: set[asyncio.Task[None]] = set()


async def guarded(stream: AsyncIterator[bytes], on_disconnect: Callable[[], Awaitable[None]] | None):
    """Pass a stream through; when the client goes before `end`, start `on_disconnect` (as a task of
    its own: the stream's task is being cancelled)."""
    finished = False
    try:
        async for chunk in stream:
            if chunk.startswith(b"event: end\n"):
                finished = True
            yield chunk
    finally:
        if not finished and on_disconnect is not None:
            task = asyncio.create_task(on_disconnect())
            _background.add(task)
            task.add_done_callback(_background.discard)

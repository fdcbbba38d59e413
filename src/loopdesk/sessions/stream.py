"""A session's events as Server-Sent Events: the WebSocket protocol's frames (`user_message`, `token`,
`tool_call`, `tool_result`, `interrupt`, `message_complete`, `error`, ...) with the frame type as the
SSE event name and the frame's `<run_id>:<seq>:<n>` id as the SSE id, so `Last-Event-ID` resumes
exactly after the last frame a client saw, on any API process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.auth.credentials import CredentialRevoked
from loopdesk.realtime.follower import Position, ThreadFollower
from loopdesk.runtime.runs.events import EventBus

log = structlog.get_logger("loopdesk.sessions")

QUEUE_FRAMES = 256


def encode(frame: dict[str, Any]) -> bytes:
    head = f"id: {frame['event_id']}\n" if frame.get("event_id") else ""
    return f"{head}event: {frame.get('type', 'message')}\ndata: ".encode() + orjson.dumps(frame) + b"\n\n"


def access_ended(reason: str) -> bytes:
    """The last frame of a stream whose credential was revoked (auth/watch.py)."""
    error = CredentialRevoked(reason)
    return encode({"type": "error", "code": error.code, "message": error.message, "detail": error.detail})


async def session_events(
    pool: AsyncConnectionPool,
    bus: EventBus,
    session_id: uuid.UUID,
    start: Position,
    *,
    heartbeat: float,
    capacity: int,
    until_run: uuid.UUID | None = None,
    follow: bool = False,
) -> AsyncIterator[bytes]:
    """Frames from `start` on. Ends after the `message_complete` of `until_run` (of the first run to end
    when None), never when `follow`; `: heartbeat` comments while idle."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_FRAMES)
    follower = ThreadFollower(
        pool, bus, session_id, start, queue.put, queue.put, heartbeat=heartbeat, capacity=capacity
    )
    task = asyncio.create_task(follower.run(), name=f"session-follow-{session_id}")
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                frame = getter.result()
                yield encode(frame)
                if frame.get("type") == "error" and frame.get("code") == "thread_deleted":
                    return
                if frame.get("type") == "message_complete" and not follow:
                    if until_run is None or frame.get("run_id") == str(until_run):
                        return
                continue
            getter.cancel()
            if task.done():  # the follower stopped: pass on what it queued, then end
                while not queue.empty():
                    yield encode(queue.get_nowait())
                if not task.cancelled() and task.exception() is not None:
                    log.warning("sessions.stream_failed", session_id=str(session_id), error=repr(task.exception()))
                    yield encode({"type": "error", "code": "stream_failed", "message": "The stream broke off: resume"})
                return
            yield b": heartbeat\n\n"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

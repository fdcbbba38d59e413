"""Steps shared by the API (runs that never started) and the workers (runs they execute): closing a
run's event log, settling its thread's status. Each takes the caller's session so that it commits with
the run's own status change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.runtime.runs.events import CHANNEL, FINAL, dumps, thread_key
from loopdesk.runtime.runs.models import Run, RunEvent
from loopdesk.runtime.runs.schemas import INFLIGHT
from loopdesk.runtime.threads.models import Thread

# A stateless run's thread outlives the run this long, so that waits and joins can still read it.
STATELESS_GRACE = timedelta(minutes=5)


async def notify(session: AsyncSession, run_id: uuid.UUID) -> None:
    """Tell readers the run is over (or gone): waits and joins wake on this one only."""
    await session.execute(text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": f"{run_id}{FINAL}"})


async def notify_thread(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Tell the thread's followers (WebSocket subscriptions) that a run was created or the thread went;
    delivered when the session commits."""
    await session.execute(text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": thread_key(thread_id)})


async def close_log(session: AsyncSession, run_id: uuid.UUID, events: list[tuple[str, Any]]) -> None:
    """Append the last events of a run (`error`, `end`) in the session's transaction."""
    last = await session.scalar(select(func.coalesce(func.max(RunEvent.seq), 0)).where(RunEvent.run_id == run_id))
    for offset, (name, data) in enumerate(events, start=1):
        session.add(RunEvent(run_id=run_id, seq=int(last or 0) + offset, event=name, data=dumps(data)))
    await session.flush()
    await notify(session, run_id)


async def settle_thread(
    session: AsyncSession,
    thread: Thread,
    *,
    finished: Run | None,
    values: Any = None,
    interrupts: dict[str, Any] | None = None,
    failed: bool = False,
) -> None:
    """The thread's status once a run is over: busy while other runs wait, else interrupted / error /
    idle. Values and interrupts are copied when the caller read them from the graph."""
    others = select(Run.run_id).where(Run.thread_id == thread.thread_id, Run.status.in_(INFLIGHT))
    if finished is not None:
        others = others.where(Run.run_id != finished.run_id)
    busy = await session.scalar(select(others.exists()))
    if values is not None:
        thread.values = values
    if interrupts is not None:
        thread.interrupts = interrupts
    if busy:
        thread.status = "busy"
    elif thread.interrupts:
        thread.status = "interrupted"
    else:
        thread.status = "error" if failed else "idle"
    now = datetime.now(UTC)
    thread.updated_at = now
    if finished is not None and finished.kwargs.get("temporary") and finished.kwargs.get("on_completion") != "keep":
        thread.expires_at = now + STATELESS_GRACE
    elif thread.ttl_minutes:
        thread.expires_at = now + timedelta(minutes=thread.ttl_minutes)
    await session.flush()

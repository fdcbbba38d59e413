"""Deleting threads and what they remember, the one way every path takes.

- `delete_threads`: Agent Protocol delete and prune, session delete and the TTL sweep (which also takes
  stateless runs' threads). A deleted thread's id may be created again, by anyone, so nothing keyed by it
  may outlive it: the row (its runs, message times, session and crons cascade), the tool layer's calls and
  approvals, and LangGraph's checkpoints.
- `clear_thread`: a session's "forget the conversation": the thread stays, its checkpoints and message
  times go.
- `roll_back_run`: a run cancelled with `rollback`: the checkpoints it wrote go."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.runs.lifecycle import notify_thread
from loopdesk.runtime.threads.models import Thread, ThreadMessage
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.tools.records import delete_for_threads

SAVER_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")  # LangGraph's saver's, children first


async def delete_threads(
    session: AsyncSession, persistence: Persistence | None, thread_ids: Sequence[uuid.UUID]
) -> None:
    """Delete the threads and everything keyed by their ids; followers are told when the session commits.
    Without `persistence` (the retention sweep opens no saver) the checkpoints go by SQL in the session's
    transaction."""
    if not thread_ids:
        return
    await delete_for_threads(session, thread_ids)
    await ThreadRepository(session).delete_many(thread_ids)
    for thread_id in thread_ids:
        await notify_thread(session, thread_id)
        if persistence is not None:
            await persistence.checkpointer.adelete_thread(str(thread_id))
    if persistence is None:
        await _delete_checkpoints(session, thread_ids)


async def _delete_checkpoints(session: AsyncSession, thread_ids: Sequence[uuid.UUID]) -> None:
    """Every checkpoint (each namespace) and pending write of the threads, in the session's transaction."""
    params = {"thread_ids": [str(thread_id) for thread_id in thread_ids]}
    for table in SAVER_TABLES:
        await session.execute(text(f"DELETE FROM {table} WHERE thread_id = ANY(:thread_ids)"), params)  # noqa: S608


async def clear_thread(session: AsyncSession, thread: Thread) -> None:
    """The thread starts afresh, in the session's transaction: its checkpoints (every namespace) and message
    times go, its copy of the state empties and it reads idle. Its runs' records stay."""
    await _delete_checkpoints(session, [thread.thread_id])
    await session.execute(delete(ThreadMessage).where(ThreadMessage.thread_id == thread.thread_id))
    thread.values = None
    thread.interrupts = {}
    thread.status = "idle"
    thread.updated_at = datetime.now(UTC)


async def roll_back_run(session: AsyncSession, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Delete the checkpoints (and their pending writes) a run created: the thread is as before it."""
    params = {"thread_id": str(thread_id), "run_id": str(run_id)}
    mine = "SELECT checkpoint_id FROM checkpoints WHERE thread_id = :thread_id AND metadata->>'run_id' = :run_id"
    await session.execute(
        text(f"DELETE FROM checkpoint_writes WHERE thread_id = :thread_id AND checkpoint_id IN ({mine})"),  # noqa: S608
        params,
    )
    await session.execute(
        text("DELETE FROM checkpoints WHERE thread_id = :thread_id AND metadata->>'run_id' = :run_id"), params
    )

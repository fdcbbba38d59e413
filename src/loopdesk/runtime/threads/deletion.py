"""Deleting threads, the one way every path takes: Agent Protocol delete and prune, session delete and
the TTL sweep (which also takes stateless runs' threads). A deleted thread's id may be created again,
by anyone, so nothing keyed by it may outlive it: the row (its runs, message times, session and crons
cascade), the tool layer's calls and approvals, and LangGraph's checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.runs.lifecycle import notify_thread
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.tools.records import delete_for_threads


async def delete_threads(session: AsyncSession, persistence: Persistence, thread_ids: Sequence[uuid.UUID]) -> None:
    """Delete the threads and everything keyed by their ids; followers are told when the session commits."""
    if not thread_ids:
        return
    await delete_for_threads(session, thread_ids)
    await ThreadRepository(session).delete_many(thread_ids)
    for thread_id in thread_ids:
        await notify_thread(session, thread_id)
        await persistence.checkpointer.adelete_thread(str(thread_id))

"""The times of a thread's messages. LangGraph's state holds the messages, not when they were said:
when a run ends, the messages that are new in the state are recorded here with the run's id (a
user's message at the run's creation, the rest at its end). A session records its user's message
at once, when it accepts it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.runtime.threads.models import ThreadMessage

USER_TYPES = frozenset({"human", "user", "HumanMessage"})


def _messages(values: Any) -> list[dict[str, Any]]:
    messages = values.get("messages") if isinstance(values, dict) else None
    return [m for m in messages if isinstance(m, dict) and m.get("id")] if isinstance(messages, list) else []


def message_rows(values: Any) -> list[tuple[str, str | None]]:
    """(message id, as stored, and type) of the messages in `values` (a state, as JSON) that have an id."""
    return [(str(m["id"])[:200], m.get("type")) for m in _messages(values)]


async def record_message(
    session: AsyncSession, thread_id: uuid.UUID, message_id: str, run_id: uuid.UUID | None, at: datetime
) -> None:
    await session.execute(
        insert(ThreadMessage)
        .values(thread_id=thread_id, message_id=message_id, run_id=run_id, created_at=at)
        .on_conflict_do_nothing()
    )


async def stamp_messages(
    session: AsyncSession, thread_id: uuid.UUID, run_id: uuid.UUID, run_created_at: datetime, values: Any, now: datetime
) -> None:
    """Record the messages of `values` (a state, as JSON) that have no time yet."""
    messages = message_rows(values)
    if not messages:
        return
    ids = [message_id for message_id, _ in messages]
    known = set(
        (
            await session.scalars(
                select(ThreadMessage.message_id).where(
                    ThreadMessage.thread_id == thread_id, ThreadMessage.message_id.in_(ids)
                )
            )
        ).all()
    )
    rows = [
        {
            "thread_id": thread_id,
            "message_id": message_id,
            "run_id": run_id,
            "created_at": run_created_at if kind in USER_TYPES else now,
        }
        for message_id, kind in messages
        if message_id not in known
    ]
    if rows:
        await session.execute(insert(ThreadMessage).values(rows).on_conflict_do_nothing())


async def message_times(
    session: AsyncSession, thread_id: uuid.UUID, ids: Sequence[str]
) -> dict[str, tuple[datetime, uuid.UUID | None]]:
    """(created_at, run_id) of the given message ids that have a time."""
    if not ids:
        return {}
    rows = await session.execute(
        select(ThreadMessage.message_id, ThreadMessage.created_at, ThreadMessage.run_id).where(
            ThreadMessage.thread_id == thread_id, ThreadMessage.message_id.in_(list(ids))
        )
    )
    return {row.message_id: (row.created_at, row.run_id) for row in rows}

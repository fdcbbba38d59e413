"""The supervisor's side of the support event stream: what it records, and the few facts it reads back."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.support.conversations import repository as conversations
from loopdesk.support.conversations.service import record_event
from loopdesk.tools.gate import Caller
from loopdesk.tools.models import ToolCall

if TYPE_CHECKING:
    from loopdesk.core.db import Database
    from loopdesk.tools.registry import ToolRegistry


async def record(
    session: AsyncSession,
    caller: Caller,
    kind: str,
    *,
    actor_id: uuid.UUID | None = None,
    agent: str | None = None,
    tool: str | None = None,
    intent: str | None = None,
    data: dict[str, Any] | None = None,
    tokens: int = 0,
    cost: Decimal | float = 0,
) -> int:
    """One event of the caller's conversation (the customer is the run's user), in the session's transaction."""
    if kind == "message" and (data or {}).get("role") == "user":
        actor_id = actor_id or caller.user_id
    return await record_event(
        session,
        thread_id=caller.thread_id,
        kind=kind,
        user_id=caller.user_id,
        actor_id=actor_id,
        agent=agent,
        tool=tool,
        intent=intent,
        data=data,
        tokens=tokens,
        cost=cost,
    )


async def conversation_status(session: AsyncSession, thread_id: uuid.UUID) -> str | None:
    row = await conversations.get_conversation(session, thread_id)
    return row.status if row is not None else None


async def staff_message(session: AsyncSession, thread_id: uuid.UUID, event_id: Any) -> tuple[str | None, str | None]:
    """The text and author of a staff reply recorded on this thread (anything else: None, nothing is said)."""
    try:
        event = await conversations.get_event(session, int(event_id))
    except (TypeError, ValueError):
        return None, None
    if event is None or event.thread_id != thread_id or event.kind != "message":
        return None, None
    if (event.data or {}).get("role") != "staff":
        return None, None
    return str(event.data.get("text") or ""), event.data.get("staff_name")


async def failed_writes(database: Database, caller: Caller, call_ids: list[str], registry: ToolRegistry) -> list[str]:
    """Write tools of these calls that ran and failed (not refused, rejected or expired: those were decisions)."""
    keys = [f"{caller.thread_id}:{call_id}" for call_id in call_ids]
    async with database.sessionmaker() as session:
        rows = [await session.get(ToolCall, key) for key in keys]
    failed = []
    for row in rows:
        if row is None or row.status != "failed":
            continue
        spec = registry.spec(row.tool_name)
        if spec is None or spec.side_effect != "read":
            failed.append(row.tool_name)
    return failed

"""What the tool layer keeps per thread: tool calls (keyed `thread_id:tool_call_id`) and approvals. A
thread id may be taken again after its thread is deleted, so these go with the thread; the audit
trail of the decisions stays (audit_events)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.tools.models import Approval, ToolCall


async def delete_for_threads(session: AsyncSession, thread_ids: Sequence[uuid.UUID]) -> None:
    """Delete the tool calls and approvals of these threads, in the caller's transaction."""
    ids = list(thread_ids)
    await session.execute(delete(Approval).where(Approval.thread_id.in_(ids)))
    await session.execute(delete(ToolCall).where(ToolCall.thread_id.in_(ids)))

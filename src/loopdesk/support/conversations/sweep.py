"""The quiet-period sweep (a periodic worker task): a conversation nobody wrote in for
LOOPDESK_SUPPORT_QUIET_MINUTES, and that no person is handling (not taken over, no open or taken
escalation), is closed with the outcome its event stream shows:

- escalated: an escalation was opened at some point (it stays the outcome even when staff solved it);
- abandoned: something was left open on the customer's side since their last message: a clarifying
  question, a refusal, an approval still pending or expired, a failed tool call, or no answer at all;
- resolved_assumed: otherwise (the agent answered and nothing was left open).

Counted conservatively: a failed tool call retried successfully in the same turn still reads as abandoned."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from loopdesk.support.conversations.models import Conversation, EventKind, Resolution, SupportEvent
from loopdesk.support.conversations.repository import ConversationRepository
from loopdesk.support.conversations.service import record_event

log = structlog.get_logger("loopdesk.support.sweep")

_OPEN_TOOL_STATUSES = ("failed", "expired")


def quiet_outcome(
    conversation: Conversation, since_customer: Sequence[SupportEvent], undecided: Sequence[str]
) -> tuple[str, str | None]:
    """(resolution, what was left open) of a conversation gone quiet."""
    if conversation.resolution == Resolution.ESCALATED:
        return Resolution.ESCALATED.value, None
    if undecided:
        return Resolution.ABANDONED.value, "approval_pending"
    answered = False
    for event in since_customer:
        data = event.data or {}
        if event.kind in (EventKind.CLARIFICATION, EventKind.REFUSAL):
            return Resolution.ABANDONED.value, event.kind
        if event.kind == EventKind.TOOL_CALL and data.get("status") in _OPEN_TOOL_STATUSES:
            return Resolution.ABANDONED.value, "tool_error"
        if event.kind == EventKind.APPROVAL_DECIDED and data.get("decision") == "expired":
            return Resolution.ABANDONED.value, "approval_expired"
        if event.kind == EventKind.MESSAGE and data.get("role") in ("assistant", "staff"):
            answered = True
    if not answered:
        return Resolution.ABANDONED.value, "unanswered"
    return Resolution.RESOLVED_ASSUMED.value, None


async def close_quiet_conversations(
    database: Any, *, quiet_minutes: float, now: datetime | None = None, batch: int = 100
) -> dict[str, int]:
    """Close every conversation quiet for `quiet_minutes`; returns how many per resolution. One
    transaction per conversation, locking the thread before the conversation like every writer."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=quiet_minutes)
    closed: Counter[str] = Counter()
    while True:
        async with database.sessionmaker() as session:
            candidates = await ConversationRepository(session).quiet_ids(cutoff, batch=batch)
        progressed = 0
        for thread_id in candidates:
            if (resolution := await _close_one(database, thread_id, cutoff, quiet_minutes, now)) is not None:
                closed[resolution] += 1
                progressed += 1
        if len(candidates) < batch or not progressed:
            break
    if closed:
        log.info("support.conversations_closed", **closed)
    return dict(closed)


async def _close_one(
    database: Any, thread_id: uuid.UUID, cutoff: datetime, quiet_minutes: float, now: datetime
) -> str | None:
    async with database.sessionmaker() as session, session.begin():
        repository = ConversationRepository(session)
        if await repository.lock_thread(thread_id) is None:
            return None
        conversation = await repository.quiet_for_update(thread_id, cutoff)
        if conversation is None:  # written to (or taken) since it was listed
            return None
        since_customer = await repository.since_last_customer_message(thread_id)
        undecided = await repository.undecided_approvals(thread_id)
        resolution, left_open = quiet_outcome(conversation, since_customer, undecided)
        data: dict[str, Any] = {"resolution": resolution, "by": "sweep", "quiet_minutes": quiet_minutes}
        if left_open is not None:
            data["left_open"] = left_open
        await record_event(session, thread_id=thread_id, kind=EventKind.RESOLVED, data=data, at=now)
        return resolution

"""The event stream and the conversation record it keeps: `record_event` writes an event and moves the
thread's conversation row (counters, status, resolution) in the caller's session, so the record commits or
rolls back with what it records. The services here only flush; the request or job owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Forbidden, NotFound
from loopdesk.sessions.attachments import files_listed
from loopdesk.support.conversations.models import Conversation, EventKind, Resolution, Status, SupportEvent
from loopdesk.support.conversations.repository import ConversationRepository
from loopdesk.support.conversations.schemas import (
    Actor,
    ConversationQuery,
    CsatIn,
    ReplayEvent,
    ReplayPage,
    ResolveIn,
)
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.support.conversations")

# Statuses the agent's own approvals do not overwrite: a person is on the conversation.
_PEOPLE_STATUSES = (Status.ESCALATED.value, Status.HUMAN.value)


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "Conversation not found"


class NotTheCustomer(Forbidden):
    code, message = "not_the_customer", "Only the conversation's customer may do this"


async def record_event(
    session: AsyncSession,
    *,
    thread_id: uuid.UUID,
    kind: str,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    agent: str | None = None,
    tool: str | None = None,
    intent: str | None = None,
    data: dict[str, Any] | None = None,
    tokens: int = 0,
    cost: float | Decimal = 0,
    duration_ms: int | None = None,
    assistant_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> int | None:
    """Append an event to the thread's stream and apply it to the conversation (created by the first
    event; its customer is `user_id`, else the thread's owner). Returns the event's id; None when the
    thread does not exist (deleted meanwhile): nothing is recorded and the caller's work goes on."""
    repository = ConversationRepository(session)
    owner = await repository.lock_thread(thread_id)
    if owner is None:
        log.info("support.event_without_thread", thread_id=str(thread_id), kind=str(kind))
        return None
    at = at or datetime.now(UTC)
    conversation = await repository.conversation_for_update(thread_id, user_id=user_id or owner, started_at=at)
    event = SupportEvent(
        thread_id=thread_id,
        user_id=conversation.user_id,
        actor_id=actor_id,
        kind=str(kind),
        agent=agent,
        tool=tool,
        intent=intent,
        data=data or {},
        tokens=tokens,
        cost=Decimal(str(cost)),
        duration_ms=duration_ms,
        at=at,
    )
    apply_event(conversation, event)
    if conversation.assistant_id is None:
        conversation.assistant_id = assistant_id
    return await repository.add_event(event)


def apply_event(conversation: Conversation, event: SupportEvent) -> None:
    """What one event does to the conversation's record."""
    data = event.data or {}
    conversation.last_activity_at = max(conversation.last_activity_at or event.at, event.at)
    conversation.tokens = (conversation.tokens or 0) + (event.tokens or 0)
    conversation.cost = (conversation.cost or Decimal(0)) + (event.cost or Decimal(0))
    match event.kind:
        case EventKind.MESSAGE:
            role = data.get("role")
            if role in ("user", "assistant", "staff"):
                conversation.messages = (conversation.messages or 0) + 1
            if role == "user":
                conversation.last_customer_at = event.at
                if conversation.status == Status.CLOSED.value:  # the customer came back: the outcome is open again
                    conversation.status, conversation.resolution = Status.ACTIVE.value, None
                    conversation.resolved_at = None
        case EventKind.HANDOFF if event.agent and event.agent not in (conversation.agents_used or []):
            conversation.agents_used = [*(conversation.agents_used or []), event.agent]
        case EventKind.INTENT if event.intent and event.intent not in (conversation.intents or []):
            conversation.intents = [*(conversation.intents or []), event.intent]
        case EventKind.TOOL_CALL:
            conversation.tool_calls = (conversation.tool_calls or 0) + 1
            if data.get("status") != "succeeded":
                conversation.tool_errors = (conversation.tool_errors or 0) + 1
        case EventKind.APPROVAL_REQUESTED if conversation.status not in _PEOPLE_STATUSES:
            conversation.status = Status.WAITING_APPROVAL.value
        case EventKind.APPROVAL_DECIDED if conversation.status == Status.WAITING_APPROVAL.value:
            conversation.status = Status.ACTIVE.value
        case EventKind.ESCALATED:
            conversation.status, conversation.resolution = Status.ESCALATED.value, Resolution.ESCALATED.value
            conversation.escalated_at = event.at
        case EventKind.TAKEOVER:
            conversation.status, conversation.taken_by = Status.HUMAN.value, event.actor_id
        case EventKind.RELEASED:
            conversation.status, conversation.taken_by = Status.ACTIVE.value, None
        case EventKind.RESOLVED:
            # An escalation is the outcome, whoever solved the problem afterwards.
            if conversation.resolution != Resolution.ESCALATED:
                conversation.resolution = data.get("resolution") or Resolution.RESOLVED_ASSUMED.value
            conversation.status, conversation.resolved_at = Status.CLOSED.value, event.at
        case EventKind.CSAT:
            conversation.csat, conversation.csat_comment = data.get("score"), data.get("comment")


class ConversationService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repository = ConversationRepository(session)

    async def search(self, caller: User, query: ConversationQuery) -> tuple[Sequence[Conversation], int]:
        if query.user_id is not None and not caller.is_staff and query.user_id != caller.id:
            raise Forbidden("Only staff may list another customer's conversations")
        return await self.repository.search(caller, query)

    async def get(self, caller: User, thread_id: uuid.UUID) -> Conversation:
        conversation = await self.repository.get_readable(caller, thread_id)
        if conversation is None:
            raise ConversationNotFound(detail={"thread_id": str(thread_id)})
        return conversation

    async def replay(self, caller: User, thread_id: uuid.UUID, *, cursor: int | None, limit: int) -> ReplayPage:
        await self.get(caller, thread_id)
        rows = await self.repository.timeline(thread_id, after=cursor, limit=limit)
        page = rows[:limit]
        items = [
            ReplayEvent(
                id=event.id,
                at=event.at,
                kind=event.kind,
                agent=event.agent,
                tool=event.tool,
                intent=event.intent,
                actor=Actor(id=event.actor_id, display_name=name) if event.actor_id else None,
                data=event.data,
                tokens=event.tokens,
                cost=float(event.cost),
            )
            for event, name in page
        ]
        # The customer's messages are recorded as text: the session's files they list are added as links.
        said = [item for item in items if item.kind == EventKind.MESSAGE and item.data.get("role") == "user"]
        listed = await files_listed(self.session, thread_id, [(str(i.data.get("text") or ""), i.at) for i in said])
        for item, files in zip(said, listed, strict=True):
            if files:
                item.data = {**item.data, "attachments": files}
        more = len(rows) > limit
        return ReplayPage(thread_id=thread_id, items=items, next_cursor=str(page[-1][0].id) if more else None)

    async def resolve(self, caller: User, thread_id: uuid.UUID, body: ResolveIn) -> Conversation:
        """The customer says it is solved: closed as resolved_confirmed (an escalated one stays escalated)."""
        await self._customers(caller, thread_id)
        await record_event(
            self.session,
            thread_id=thread_id,
            kind=EventKind.RESOLVED,
            actor_id=caller.id,
            data={"resolution": Resolution.RESOLVED_CONFIRMED.value, "by": "customer"},
        )
        if body.csat is not None:
            await self._csat(caller, thread_id, body.csat, body.comment)
        return await self.get(caller, thread_id)

    async def rate(self, caller: User, thread_id: uuid.UUID, body: CsatIn) -> Conversation:
        await self._customers(caller, thread_id)
        await self._csat(caller, thread_id, body.score, body.comment)
        return await self.get(caller, thread_id)

    async def _customers(self, caller: User, thread_id: uuid.UUID) -> Conversation:
        conversation = await self.get(caller, thread_id)
        if conversation.user_id != caller.id:  # staff read every conversation but speak for no customer
            raise NotTheCustomer()
        return conversation

    async def _csat(self, caller: User, thread_id: uuid.UUID, score: int, comment: str | None) -> None:
        data = {"score": score, "comment": comment or None}
        await record_event(self.session, thread_id=thread_id, kind=EventKind.CSAT, actor_id=caller.id, data=data)

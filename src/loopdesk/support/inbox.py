"""The staff inbox: escalations listed, taken over, answered as a person, handed back."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Conflict, Forbidden, NotFound
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.support import escalation as escalations
from loopdesk.support import events
from loopdesk.support.conversations.models import Escalation
from loopdesk.support.graph import GRAPH_ID
from loopdesk.support.repository import EscalationRepository
from loopdesk.tools.gate import Caller
from loopdesk.users.models import Role, User


class EscalationNotFound(NotFound):
    code, message = "escalation_not_found", "Escalation not found"


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "Conversation not found"


class AlreadyTaken(Conflict):
    code, message = "already_taken", "Another staff member has taken this conversation"


class NotTaken(Conflict):
    code, message = "not_taken", "Take the conversation over before replying in it"


class EscalationClosed(Conflict):
    code, message = "escalation_closed", "This escalation is closed"


class NotYours(Forbidden):
    code, message = "not_your_conversation", "Another staff member has this conversation"


class Inbox:
    def __init__(self, session: AsyncSession, graphs: GraphRegistry):
        self.session = session
        self.graphs = graphs
        self.escalations = EscalationRepository(self.session)

    async def listing(
        self,
        caller: User,
        *,
        statuses: Collection[str] | None,
        thread_id: uuid.UUID | None,
        mine: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[Escalation], int]:
        return await self.escalations.listing(
            statuses=statuses,
            thread_id=thread_id,
            assigned_to=caller.id if mine else None,
            limit=limit,
            offset=offset,
        )

    async def _live(self, escalation_id: uuid.UUID) -> Escalation:
        escalation = await self.escalations.get(escalation_id, for_update=True)
        if escalation is None:
            raise EscalationNotFound(detail={"escalation_id": str(escalation_id)})
        if escalation.status == "closed":
            raise EscalationClosed(detail={"escalation_id": str(escalation_id)})
        return escalation

    async def take(self, staff: User, escalation_id: uuid.UUID) -> Escalation:
        escalation = await self._live(escalation_id)
        if escalation.status == "taken" and escalation.assigned_to != staff.id:
            raise AlreadyTaken(detail={"assigned_to": str(escalation.assigned_to)})
        if escalation.status != "taken":
            await escalations.take(self.session, escalation, staff)
        return await self._fresh(escalation.id)

    async def release(self, staff: User, escalation_id: uuid.UUID, *, close: bool) -> Escalation:
        escalation = await self._live(escalation_id)
        self._check_holder(staff, escalation)
        await escalations.release(self.session, escalation, staff, close=close)
        return await self._fresh(escalation.id)

    async def escalate(self, caller: User, thread_id: uuid.UUID, reason: str) -> Escalation:
        """A customer (their own conversation) or staff hands the conversation to people."""
        thread = await ThreadRepository(self.session).get_readable(caller, thread_id)
        if thread is None and caller.is_staff:
            thread = await ThreadRepository(self.session).get_any(thread_id)
        if thread is None:
            raise ConversationNotFound(detail={"thread_id": str(thread_id)})
        kind = "requested"
        return await escalations.escalate(
            self.session, Caller(thread.thread_id, None, None, thread.owner_id), reason=reason, kind=kind
        )

    async def reply(self, staff: User, thread_id: uuid.UUID, text: str) -> tuple[int, uuid.UUID]:
        """The staff member's message in the customer's conversation: recorded, then said in the customer's
        stream by a run of the conversation's graph (queued behind a run still going)."""
        from loopdesk.runtime.runs.service import RunService

        escalation = await self.escalations.open_for(thread_id, for_update=True)
        if escalation is None or escalation.status != "taken":
            raise NotTaken(detail={"thread_id": str(thread_id)})
        self._check_holder(staff, escalation)
        thread = await ThreadRepository(self.session).get_any(thread_id)
        if thread is None:
            raise ConversationNotFound(detail={"thread_id": str(thread_id)})
        owner = await self.session.get(User, thread.owner_id)
        if owner is None:
            raise ConversationNotFound(detail={"thread_id": str(thread_id)})
        caller = Caller(thread.thread_id, None, None, owner.id)
        event_id = await events.record(
            self.session,
            caller,
            "message",
            actor_id=staff.id,
            data={"role": "staff", "text": text, "staff_name": staff.display_name},
        )
        assistant = str((thread.metadata_ or {}).get("assistant_id") or GRAPH_ID)
        run = await RunService(self.session, self.graphs).start_chat_turn(
            owner,
            thread.thread_id,
            assistant_id=assistant,
            input={"staff_reply": {"event_id": event_id}},
            resume_when_busy=True,
        )
        return event_id, run.run_id

    @staticmethod
    def _check_holder(staff: User, escalation: Escalation) -> None:
        if escalation.assigned_to not in (None, staff.id) and staff.role != Role.admin:
            raise NotYours(detail={"assigned_to": str(escalation.assigned_to)})

    async def _fresh(self, escalation_id: uuid.UUID) -> Escalation:
        escalation = await self.escalations.get(escalation_id)
        assert escalation is not None
        return escalation

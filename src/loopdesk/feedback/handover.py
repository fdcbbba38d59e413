"""Support hand-over: a support conversation escalated to a problem report (`source_channel: support`).

The reporter is the customer, who then sees the task as their own. The conversation (a session, or a thread of
the runtime) is read from its latest checkpoint as sessions/ reads it; its messages go on the task as
`transcript.json`, given by the conversation's owner (so a customer sees the transcript of their own chat), and
are summarised in the description when none is given. Intake, de-duplication and the workflow are
FeedbackService's. Staff call it over REST; the support agent through the `report_problem` tool, as the system."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers, UploadFile

from loopdesk.core.errors import LoopdeskError, NotFound
from loopdesk.core.settings import AttachmentSettings
from loopdesk.feedback.attachments import AttachmentService
from loopdesk.feedback.schemas import FeedbackCreate
from loopdesk.feedback.service import FeedbackService, Intake
from loopdesk.feedback.uploads import Upload
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.threads.models import Thread
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.sessions.models import UserSession
from loopdesk.sessions.schemas import MessageRead
from loopdesk.sessions.service import conversation
from loopdesk.users.models import SYSTEM_USER_ID, User

TRANSCRIPT = "transcript.json"
SUMMARY_MESSAGES = 3
SUMMARY_CHARS = 300


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "Conversation not found"


class CustomerNotFound(LoopdeskError):
    status_code, code, message = 422, "customer_not_found", "No active customer account with this id"


class NotTheCustomersConversation(LoopdeskError):
    status_code, code, message = (
        422,
        "not_the_customers_conversation",
        ("The conversation is neither the customer's nor yours"),
    )


class EmptyConversation(LoopdeskError):
    status_code, code, message = 422, "empty_conversation", "The conversation has no messages to hand over"


@dataclass(frozen=True, slots=True)
class Handover:
    title: str
    conversation_id: uuid.UUID
    customer_id: uuid.UUID | None = None  # None: the conversation's owner (the support agent's tool)
    description: str | None = None
    issue_type: str | None = None


@dataclass(frozen=True, slots=True)
class HandedOver:
    intake: Intake
    transcript: Any  # the stored attachment's row


async def report_as_system(
    session: AsyncSession,
    runtime: Any,
    thread_id: uuid.UUID,
    *,
    title: str,
    description: str | None = None,
    issue_type: str | None = None,
) -> HandedOver:
    """The support conversation `thread_id` handed over by the system as its customer's report (the support agent's
    `report_problem` tool; a defect the support desk met). `runtime`: the tool runtime (graphs, persistence)."""
    from loopdesk.triage.dedup import service as dedup
    from loopdesk.triage.dedup.embeddings import EmbedderUnavailable

    settings = runtime.settings
    try:
        embedder = await dedup.load_embedder(settings.dedup, allow_fallback=not settings.is_production)
    except EmbedderUnavailable:
        embedder = None  # the report is still taken, only not de-duplicated
    system = await session.get(User, SYSTEM_USER_ID)
    if system is None:
        raise CustomerNotFound("the system account is missing")
    feedback = FeedbackService(session, embedder=embedder, dedup_settings=settings.dedup, graphs=runtime.graphs)
    service = HandoverService(session, feedback, persistence=runtime.persistence, attachments=settings.attachments)
    handover = Handover(
        title=title.strip()[:500],
        conversation_id=thread_id,
        description=(description or "").strip()[:20_000] or None,
        issue_type=issue_type,
    )
    return await service.hand_over(system, handover)


class HandoverService:
    def __init__(
        self,
        session: AsyncSession,
        feedback: FeedbackService,
        *,
        persistence: Persistence,
        attachments: AttachmentSettings,
    ):
        self.session = session
        self.feedback = feedback
        self.persistence = persistence
        self.attachments = AttachmentService(session, settings=attachments)

    async def hand_over(self, actor: User, data: Handover) -> HandedOver:
        """`actor`: a staff member, or the system account for the support agent (which names the current thread)."""
        kind, owner_id = await self._conversation(actor, data.conversation_id)
        customer_id = data.customer_id or owner_id
        customer = await self.session.get(User, customer_id)
        if customer is None or not customer.is_active or customer.id == SYSTEM_USER_ID:
            raise CustomerNotFound(detail={"customer_id": str(customer_id)})
        if owner_id not in (customer.id, actor.id):
            raise NotTheCustomersConversation(detail={"conversation_id": str(data.conversation_id)})
        messages = await conversation(self.session, self.persistence, data.conversation_id)
        if not messages:
            raise EmptyConversation(detail={"conversation_id": str(data.conversation_id)})
        report = FeedbackCreate(
            title=data.title,
            description=data.description or summarise(messages),
            source_channel="support",
        )
        intake = await self.feedback.intake(customer, report, client_ip=None, actor=actor, issue_type=data.issue_type)
        owner = customer if owner_id == customer.id else actor
        document = self._transcript(kind, data.conversation_id, customer.id, messages)
        [stored] = await self.attachments.attach(owner, intake.task, [document])
        return HandedOver(intake, stored)

    async def _conversation(self, actor: User, conversation_id: uuid.UUID) -> tuple[str, uuid.UUID]:
        """(`session` | `thread`, its owner): staff read every session (support), a thread only their own (admins:
        all); the system reads all."""
        row = await self.session.get(UserSession, conversation_id)
        if row is not None and actor.is_staff:
            return "session", row.user_id
        if actor.id == SYSTEM_USER_ID:
            thread = await self.session.get(Thread, conversation_id)
        else:
            thread = await ThreadRepository(self.session).get_readable(actor, conversation_id)
        if thread is None:
            raise ConversationNotFound(detail={"conversation_id": str(conversation_id)})
        return "thread", thread.owner_id

    def _transcript(
        self, kind: str, conversation_id: uuid.UUID, customer_id: uuid.UUID, messages: list[MessageRead]
    ) -> Upload:
        """The messages as JSON, the oldest dropped (and counted) when the whole would pass the attachment limit."""
        limit, dropped = self.attachments.settings.attachment_max_bytes, 0
        while True:
            body = orjson.dumps(
                {
                    "conversation": {"kind": kind, "id": str(conversation_id)},
                    "customer_id": str(customer_id),
                    "exported_at": datetime.now(UTC).isoformat(),
                    "messages_dropped": dropped,
                    "messages": [m.model_dump(mode="json") for m in messages[dropped:]],
                },
                option=orjson.OPT_INDENT_2,
            )
            if len(body) <= limit or dropped >= len(messages):
                break
            dropped += max(1, (len(messages) - dropped) // 10)
        file = UploadFile(io.BytesIO(body), filename=TRANSCRIPT, headers=Headers({"content-type": "application/json"}))
        return Upload("file", TRANSCRIPT, "application/json", len(body), hashlib.sha256(body).hexdigest(), file)


def summarise(messages: list[MessageRead]) -> str:
    """The description of a hand-over that came without one: what the customer said, and the last answer."""
    said = [m.content.strip() for m in messages if m.role == "user" and m.content.strip()]
    answers = [m.content.strip() for m in messages if m.role == "assistant" and m.content.strip()]
    lines = [f"Handed over from a support conversation ({len(messages)} messages; transcript attached)."]
    if said:
        lines.append("The customer said:")
        lines += [f"- {_clip(text)}" for text in said[:SUMMARY_MESSAGES]]
        if len(said) > SUMMARY_MESSAGES:
            lines.append(f"- … and {len(said) - SUMMARY_MESSAGES} more messages")
    if answers:
        lines.append(f"Last answer of support: {_clip(answers[-1])}")
    return "\n".join(lines)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1].rstrip() + "…"

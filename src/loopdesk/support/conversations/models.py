"""Tables of the support application: the conversation record per thread, its append-only event stream,
escalations to people, and the agent sets loaded from YAML (the last two are written by the lead's
`support.escalation` and `support.agents`; one migration creates all four)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from loopdesk.core.db import Base


class EventKind(enum.StrEnum):
    """Every kind of support event, in one place (the `kind` column)."""

    MESSAGE = "message"  # data.role: user | assistant | staff
    INTENT = "intent"
    HANDOFF = "handoff"  # agent: the agent the turn went to
    CLARIFICATION = "clarification"
    REFUSAL = "refusal"
    TOOL_CALL = "tool_call"  # tool; data.status: succeeded | failed | denied | rejected | expired
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"  # data.decision: approved | edited | rejected | expired
    ESCALATED = "escalated"
    TAKEOVER = "takeover"
    RELEASED = "released"
    RESOLVED = "resolved"  # data.resolution
    CSAT = "csat"  # data.score, data.comment
    USAGE = "usage"  # tokens and cost of a turn's model calls


class Status(enum.StrEnum):
    ACTIVE = "active"
    WAITING_APPROVAL = "waiting_approval"
    ESCALATED = "escalated"
    HUMAN = "human"
    CLOSED = "closed"


class Resolution(enum.StrEnum):
    RESOLVED_CONFIRMED = "resolved_confirmed"
    RESOLVED_ASSUMED = "resolved_assumed"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


ESCALATION_KINDS = ("requested", "refused", "policy", "error", "defect", "out_of_scope")
ESCALATION_STATUSES = ("open", "taken", "closed")


def _one_of(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Conversation(Base):
    """What a support thread amounts to, kept current by every event (service.record_event)."""

    __tablename__ = "support_conversations"
    __table_args__ = (
        CheckConstraint(_one_of("status", Status), name="status"),
        CheckConstraint(_one_of("resolution", Resolution), name="resolution"),
        CheckConstraint("csat BETWEEN 1 AND 5", name="csat"),
        Index("ix_support_conversations_status_last_activity_at", "status", "last_activity_at"),
        Index("ix_support_conversations_started_at", "started_at"),
        Index("ix_support_conversations_user_id_started_at", "user_id", "started_at"),
        Index("ix_support_conversations_resolution", "resolution"),
        Index("ix_support_conversations_agents_used", "agents_used", postgresql_using="gin"),
    )

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    status: Mapped[str] = mapped_column(Text, default=Status.ACTIVE.value)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    agents_used: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    intents: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tool_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tool_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(0), server_default="0")
    csat: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    csat_comment: Mapped[str | None] = mapped_column(Text, default=None)
    taken_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_activity_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_customer_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Not a column: the live escalation's id, filled in by the repository's reads (None where it is not asked).
    escalation_id: Mapped[uuid.UUID | None] = query_expression()


class SupportEvent(Base):
    """One entry of the analytics event stream: what happened in a conversation, who did it, what it cost."""

    __tablename__ = "support_events"
    __table_args__ = (
        Index("ix_support_events_thread_id_id", "thread_id", "id"),
        Index("ix_support_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)  # the customer
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)  # NULL: system / agent
    kind: Mapped[str] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text, default=None)
    tool: Mapped[str | None] = mapped_column(Text, default=None)
    intent: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(0), server_default="0")
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class Escalation(Base):
    """A conversation handed to a person. At most one open or taken escalation per thread."""

    __tablename__ = "support_escalations"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ESCALATION_KINDS), name="kind"),
        CheckConstraint(_one_of("status", ESCALATION_STATUSES), name="status"),
        Index("ix_support_escalations_status_created_at", "status", "created_at"),
        Index(
            "uq_support_escalations_live_thread",
            "thread_id",
            unique=True,
            postgresql_where=text("status IN ('open', 'taken')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    reason: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="open")
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class AgentSet(Base):
    """A version of the agents' YAML as loaded (or reloaded by an admin): the document and where it came from."""

    __tablename__ = "support_agent_sets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

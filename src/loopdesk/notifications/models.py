"""The notification channels an admin configures and the outbox of deliveries. A delivery row is written in
the transaction that caused it (a stage change, an SLA warning) and sent by a queued job afterwards: a worker
that dies mid-send leaves the row pending, and the next attempt sends it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base

CHANNEL_KINDS = ("email", "dingtalk", "slack", "webhook")
DELIVERY_KINDS = ("websocket", *CHANNEL_KINDS)
DELIVERY_STATUSES = ("pending", "sent", "failed")  # failed: gave up after the last attempt


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class NotificationChannel(Base):
    """Where notifications go besides people's own e-mail and WebSocket: a DingTalk robot, a Slack incoming
    webhook, a generic webhook or an e-mail list, for a region (None: both) and the events it wants (empty:
    all). `config` holds the URL, signing secret or recipients; reads mask the secrets."""

    __tablename__ = "notification_channels"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CHANNEL_KINDS), name="kind"),
        CheckConstraint("region IS NULL OR region IN ('domestic', 'international')", name="region"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(16), default=None)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), default=None)
    events: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=sql_text("'[]'::jsonb"))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=sql_text("'{}'::jsonb"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class NotificationDelivery(Base):
    """One message to one recipient over one channel; `dedup_key` makes a retried cause write it once."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint(_one_of("kind", DELIVERY_KINDS), name="kind"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        Index("ix_notification_deliveries_pending", "next_attempt_at", postgresql_where=sql_text("status = 'pending'")),
        Index("ix_notification_deliveries_task_id_id", "task_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # the task_events row that caused it
    event: Mapped[str] = mapped_column(String(64))  # e.g. stage:plan_review, sla_warning, sla_escalated
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(Text)  # an e-mail address, a user id, or the channel's name
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    subject: Mapped[str] = mapped_column(Text, default="", server_default="")
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=sql_text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

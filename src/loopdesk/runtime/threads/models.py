from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class Thread(Base):
    """A conversation: its checkpoints live in LangGraph's tables under the same id; this row holds
    ownership, metadata, status and a copy of the latest values for search."""

    __tablename__ = "threads"

    thread_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="idle", index=True)
    values: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    interrupts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    ttl_minutes: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)


class ThreadMessage(Base):
    """When each message of a thread's state appeared, and in which run: the state holds the messages
    themselves, this table their times (written when a run ends, and at once for a session's message)."""

    __tablename__ = "thread_messages"

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

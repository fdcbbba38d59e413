from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class Cron(Base):
    """A schedule that creates a run (on its thread, or on a new thread each time) when due."""

    __tablename__ = "crons"

    cron_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    thread_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("threads.thread_id", ondelete="CASCADE"), default=None, index=True
    )
    schedule: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    on_run_completed: Mapped[str | None] = mapped_column(String(16), default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    next_run_date: Mapped[datetime | None] = mapped_column(default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

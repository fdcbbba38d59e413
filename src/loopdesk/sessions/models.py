from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class UserSession(Base):
    """A conversation of one user with one assistant (the seeds' `user_sessions`): a thread of the runtime
    (same id) plus the session's own fields. Deleting the thread deletes the session."""

    __tablename__ = "user_sessions"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # No foreign key: a deleted assistant leaves its sessions readable (execute answers 409).
    assistant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # Minutes of inactivity after which the session expires; None = never.
    ttl_minutes: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_activity_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class Run(Base):
    """One execution of an assistant on a thread. `kwargs` holds what the client asked for (input,
    command, config, stream modes, …) so that any worker can execute, or re-execute, it."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_thread_created", "thread_id", "created_at"),
        Index("ix_runs_thread_seq", "thread_id", "seq"),
    )
    # created_at, updated_at and seq come back with the INSERT (RETURNING): no second round trip to read them.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy reads it as a class attribute

    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    multitask_strategy: Mapped[str] = mapped_column(String(16), default="enqueue")
    # A cancel of a running run ("interrupt" or "rollback") its worker has yet to honour (the status
    # already reads `interrupted`); cleared when the worker has stopped and closed the run's log.
    cancel_action: Mapped[str | None] = mapped_column(String(16), default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    output: Mapped[Any | None] = mapped_column(JSONB, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Creation order within the thread: runs are created under the thread's row lock, so this follows
    # commit order there (created_at is the transaction's start and may not).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False))


class RunEvent(Base):
    """The durable, ordered stream of a run: what SSE clients receive, replayable from any event id."""

    __tablename__ = "run_events"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)  # JSON text, sent as is
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

"""Tables of the log store: one row per log record, whatever format it arrived in (JSON lines, text, OTLP).
Operational data: read by staff and admins only, written by ingest (imported by core/models.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class LogRecord(Base):
    """A normalised log record. `severity` is the OpenTelemetry severity number (1-24) behind `level`,
    so "warnings and worse" is a range; `template_id` names the template text (stable across processes)."""

    __tablename__ = "log_records"
    __table_args__ = (
        # Range scans and newest-first pages; the filtered ones lead with their column.
        Index("ix_log_records_ts", "ts"),
        Index("ix_log_records_service_ts", "service", "ts"),
        Index("ix_log_records_module_ts", "module", "ts"),
        Index("ix_log_records_level_ts", "level", "ts"),
        Index("ix_log_records_template_id", "template_id", postgresql_where=text("template_id IS NOT NULL")),
        Index("ix_log_records_trace_id", "trace_id", postgresql_where=text("trace_id IS NOT NULL")),
        # Keyword search (`ILIKE '%timeout%'`) without a sequential scan.
        Index(
            "ix_log_records_message_trgm",
            "message",
            postgresql_using="gin",
            postgresql_ops={"message": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column()
    level: Mapped[str] = mapped_column(String(8))
    severity: Mapped[int] = mapped_column(SmallInteger)
    service: Mapped[str | None] = mapped_column(String(128), default=None)
    module: Mapped[str | None] = mapped_column(String(256), default=None)
    message: Mapped[str] = mapped_column(Text)
    template_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    template: Mapped[str | None] = mapped_column(Text, default=None)
    trace_id: Mapped[str | None] = mapped_column(String(64), default=None)
    span_id: Mapped[str | None] = mapped_column(String(32), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    ingested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    ingested_at: Mapped[datetime] = mapped_column(server_default=func.now())

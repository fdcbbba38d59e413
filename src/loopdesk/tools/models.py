"""Tables of the tool layer: approval policies, tool sources registered at run time (MCP servers,
OpenAPI imports), the record of every tool call (the idempotency key of exactly-once execution)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base


class ToolPolicy(Base):
    """The seed's `tool_approval_config`: per tool a default (user_id NULL) and per-user overrides."""

    __tablename__ = "tool_policies"
    __table_args__ = (
        Index("uq_tool_policies_default", "tool_name", unique=True, postgresql_where=text("user_id IS NULL")),
        Index(
            "uq_tool_policies_user", "tool_name", "user_id", unique=True, postgresql_where=text("user_id IS NOT NULL")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tool_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    mode: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ToolCall(Base):
    """One tool call of a run, keyed by thread + the model's tool-call id: a retried step finds the
    stored outcome instead of calling out again."""

    __tablename__ = "tool_calls"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None, index=True)
    tool_name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    side_effect: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # started | succeeded | failed | denied | rejected | expired
    status: Mapped[str] = mapped_column(String(20))
    result: Mapped[Any] = mapped_column(JSONB, default=None, nullable=True)
    is_error: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(default=1)
    approval_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Approval(Base):
    """A tool call waiting for (or given) a person's decision. Deleted with its thread (the id may be
    taken again); the audit trail of the decision outlives both."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_pending_expiry", "expires_at", postgresql_where=text("status = 'pending'")),
        CheckConstraint("approver IN ('any', 'staff')", name="approver"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tool_call_key: Mapped[str] = mapped_column(String(200), unique=True)
    tool_call_id: Mapped[str] = mapped_column(String(200))
    thread_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    requester_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None, index=True)
    tool_name: Mapped[str] = mapped_column(String(64))
    side_effect: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    edited_args: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    # pending | approved | edited | rejected | expired
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    # Who may approve or edit: "any" who may see it (the requester included), or "staff" only (the support
    # application: a customer never approves their own refund; they may still reject their own request).
    approver: Mapped[str] = mapped_column(String(10), default="any", server_default="any")
    decision_message: Mapped[str | None] = mapped_column(Text, default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    decided_via: Mapped[str | None] = mapped_column(String(20), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column()


class ToolSourceRow(Base):
    """A tool source registered at run time: an MCP server (kind `mcp`). Secrets (env, headers) are
    stored encrypted, apart from the rest of the configuration."""

    __tablename__ = "tool_sources"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OpenAPIImport(Base):
    """An OpenAPI document being turned into tools: fetched and parsed, reviewed, then approved (its
    tools go live for the chosen assistants at once)."""

    __tablename__ = "openapi_imports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    # queued | review | approved | failed
    status: Mapped[str] = mapped_column(String(20), default="queued")
    source_url: Mapped[str | None] = mapped_column(Text, default=None)
    document: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    operations: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    base_url: Mapped[str | None] = mapped_column(Text, default=None)
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    assistant_ids: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

"""The sessions API's shapes (the seeds' names: `session_id`, `user_id`, `message`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from loopdesk.core.schemas import MAX_OFFSET, Schema
from loopdesk.tools.approvals.schemas import ApprovalRead

SessionStatus = Literal["idle", "running", "interrupted", "expired"]
Role = Literal["user", "assistant", "tool", "system"]
MAX_MESSAGE_ATTACHMENTS = 10


class SessionCreate(Schema):
    assistant_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="an assistant id or a graph id; default: LOOPDESK_DEFAULT_ASSISTANT (the general `agent`)",
    )
    title: str | None = Field(None, max_length=200, description="default: the first message, shortened")
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionPatch(Schema):
    title: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = Field(None, description="merged into the session's metadata")


class SessionRead(Schema):
    session_id: uuid.UUID
    thread_id: uuid.UUID = Field(..., description="the same id: the session's thread in the Agent Protocol")
    user_id: uuid.UUID
    assistant_id: uuid.UUID
    title: str | None
    metadata: dict[str, Any]
    status: SessionStatus = Field(..., description="running, expired, interrupted (waiting for a decision) or idle")
    message_count: int
    created_at: datetime
    last_activity_at: datetime
    expires_at: datetime | None = Field(..., description="when it expires without activity; null = never")


class SessionQuery(Schema):
    user_id: uuid.UUID | None = Field(None, description="staff and admins: another user's sessions")
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ExecuteIn(Schema):
    message: str = Field(..., description="the user's message (at most LOOPDESK_MAX_MESSAGE_CHARS characters)")
    stream: bool = Field(False, description="answer with Server-Sent Events (also when `Accept: text/event-stream`)")
    metadata: dict[str, Any] | None = Field(None, description="kept on the run")
    attachments: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_MESSAGE_ATTACHMENTS,
        description="ids of files uploaded to this session (POST .../attachments) to send with the message",
    )


class SessionAttachmentRead(Schema):
    id: uuid.UUID
    filename: str = Field(..., description="as uploaded, without path or control characters")
    content_type: str = Field(..., description="checked against the file's first bytes where the format has them")
    size: int = Field(..., description="bytes")
    sha256: str = Field(..., description="hex digest of the bytes")
    created_at: datetime


class MessageAttachment(Schema):
    """A file sent with a message: GET /api/v1/sessions/{session_id}/attachments/{id} serves it."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int


class ToolCallRequest(Schema):
    id: str | None
    name: str
    args: dict[str, Any]


class MessageRead(Schema):
    id: str
    role: Role
    content: str
    tool_calls: list[ToolCallRequest] = Field(default_factory=list, description="what an assistant message asked")
    tool_call_id: str | None = Field(None, description="a tool message: the call it answers")
    name: str | None = None
    run_id: uuid.UUID | None = None
    created_at: datetime | None
    status: Literal["complete", "pending"] = Field(
        "complete", description="pending: accepted, waiting for the run in front of it"
    )
    attachments: list[MessageAttachment] = Field(default_factory=list, description="files sent with a user message")


class MessagePage(Schema):
    items: list[MessageRead]
    total: int
    limit: int
    offset: int


class ToolCallRecord(Schema):
    """A tool call of the run as the gate recorded it."""

    id: str
    tool: str
    args: dict[str, Any]
    status: str = Field(..., description="started, succeeded, failed, denied, rejected or expired")
    result: Any = None
    is_error: bool
    approval_id: uuid.UUID | None


class ExecuteResult(Schema):
    session_id: uuid.UUID
    run_id: uuid.UUID
    status: str = Field(..., description="success, interrupted (waiting for an approval), error or timeout")
    messages: list[MessageRead] = Field(..., description="the messages this run added, the user's first")
    tool_calls: list[ToolCallRecord]
    pending_approvals: list[ApprovalRead] = Field(
        ..., description="approvals the session waits for: decide with POST /api/v1/approvals/{id}/approve|reject"
    )
    error: dict[str, Any] | None = None

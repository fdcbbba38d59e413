from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from loopdesk.core.schemas import MAX_OFFSET, Schema

ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "expired"]
Message = Annotated[str, Field(max_length=2000)]


class ApproveIn(Schema):
    message: Message | None = None


class RejectIn(Schema):
    message: Message | None = Field(None, description="why: the model reads it and tells the user")


class EditIn(Schema):
    args: dict[str, Any] = Field(..., description="the arguments to execute with instead (checked against the tool)")
    message: Message | None = None


class Decision(Schema):
    """The one decision shape shared by REST, the WebSocket and the console: approve / reject / edit."""

    type: Literal["approve", "reject", "edit"]
    message: Message | None = None
    args: dict[str, Any] | None = None


class ApprovalRead(Schema):
    id: uuid.UUID
    thread_id: uuid.UUID
    run_id: uuid.UUID | None
    assistant_id: uuid.UUID | None
    requester_id: uuid.UUID | None
    tool_call_id: str
    tool_name: str
    side_effect: str
    description: str | None
    args: dict[str, Any]
    edited_args: dict[str, Any] | None
    status: ApprovalStatus
    decision_message: str | None
    decided_by: uuid.UUID | None
    decided_via: str | None
    decided_at: datetime | None
    created_at: datetime
    expires_at: datetime


class ApprovalQuery(Schema):
    status: ApprovalStatus | None = Field("pending", description="pending by default")
    thread_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

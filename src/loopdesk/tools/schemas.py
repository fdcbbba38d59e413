from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from loopdesk.core.schemas import Schema

Mode = Literal["auto", "require_approval", "deny"]


class ToolRead(Schema):
    name: str
    description: str
    source: str = Field(..., description="python | mcp | openapi")
    source_id: str
    side_effect: Literal["read", "write", "destructive"]
    parameters: dict[str, Any]
    available: bool
    unavailable_reason: str | None = None
    approval_mode: Mode = Field(..., description="what happens when you call it: auto, require_approval or deny")
    approval_origin: str = Field(..., description="user (your override), default (the tool's policy) or tool")


class PolicySet(Schema):
    mode: Mode
    user_id: uuid.UUID | None = Field(None, description="a user's override; omit for the default of everyone")


class PolicyRead(Schema):
    id: uuid.UUID
    tool_name: str
    user_id: uuid.UUID | None
    mode: Mode
    created_at: datetime
    updated_at: datetime

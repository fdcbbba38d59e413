"""Agent Protocol assistant shapes, as `langgraph-sdk` sends and reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from loopdesk.core.schemas import MAX_OFFSET, Schema

AssistantField = Literal[
    "assistant_id", "graph_id", "name", "description", "config", "context", "metadata", "version", "created_at",
    "updated_at",
]  # fmt: skip


class ProtocolSchema(Schema):
    # Newer SDKs may send fields this server does not know yet: ignored, not refused.
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class AssistantCreate(ProtocolSchema):
    graph_id: str = Field(..., min_length=1, max_length=200)
    assistant_id: uuid.UUID | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class AssistantPatch(ProtocolSchema):
    graph_id: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = Field(None, description="merged into the current metadata")
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class AssistantVersionRead(ProtocolSchema):
    assistant_id: uuid.UUID
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    version: int
    name: str
    description: str | None
    created_at: datetime


class AssistantRead(AssistantVersionRead):
    updated_at: datetime


class AssistantSearch(ProtocolSchema):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = Field(None, max_length=200, description="case-insensitive substring")
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[AssistantField] | None = None


class AssistantCount(ProtocolSchema):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = Field(None, max_length=200)


class AssistantVersionsSearch(ProtocolSchema):
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class AssistantSetLatest(ProtocolSchema):
    version: int = Field(..., ge=1)

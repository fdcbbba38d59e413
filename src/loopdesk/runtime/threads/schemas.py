"""Agent Protocol thread shapes, as `langgraph-sdk` sends and reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from loopdesk.core.schemas import MAX_OFFSET
from loopdesk.runtime.assistants.schemas import ProtocolSchema

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
ThreadField = Literal[
    "thread_id", "created_at", "updated_at", "metadata", "status", "values", "interrupts", "config", "error"
]  # fmt: skip


class ThreadTTL(ProtocolSchema):
    strategy: Literal["delete"] = "delete"
    ttl: float = Field(..., gt=0, le=60 * 24 * 3650, description="minutes of inactivity before the thread goes")


def _ttl_minutes(value: Any) -> Any:
    # The SDK sends a bare number of minutes as {"ttl": n, "strategy": "delete"}; accept both forms.
    return {"ttl": value} if isinstance(value, int | float) and not isinstance(value, bool) else value


TTL = Annotated[ThreadTTL | None, BeforeValidator(_ttl_minutes)]


class ThreadCreate(ProtocolSchema):
    thread_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: TTL = None


class ThreadPatch(ProtocolSchema):
    metadata: dict[str, Any] | None = Field(None, description="merged into the current metadata")
    ttl: TTL = None


class ThreadRead(ProtocolSchema):
    thread_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    status: ThreadStatus
    values: dict[str, Any] | None = None
    interrupts: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ThreadSearch(ProtocolSchema):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    status: ThreadStatus | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[ThreadField] | None = None


class ThreadCount(ProtocolSchema):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class ThreadPrune(ProtocolSchema):
    thread_ids: list[uuid.UUID] = Field(..., max_length=1000)
    strategy: Literal["delete", "keep_latest"] = "delete"


class CheckpointRef(ProtocolSchema):
    thread_id: uuid.UUID | None = None
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateAtCheckpoint(ProtocolSchema):
    checkpoint: CheckpointRef
    subgraphs: bool = False


class StateUpdate(ProtocolSchema):
    values: dict[str, Any] | list[dict[str, Any]] | None = None
    as_node: str | None = Field(None, max_length=200)
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = Field(None, max_length=100)


class HistoryQuery(ProtocolSchema):
    limit: int = Field(10, ge=1, le=1000)
    before: str | CheckpointRef | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None

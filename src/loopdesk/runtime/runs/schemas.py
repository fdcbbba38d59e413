"""Agent Protocol run shapes, as `langgraph-sdk` sends and reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from loopdesk.core.schemas import MAX_OFFSET
from loopdesk.runtime.assistants.schemas import ProtocolSchema
from loopdesk.runtime.threads.schemas import CheckpointRef

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "events", "debug", "tasks", "checkpoints"
]  # fmt: skip
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
TERMINAL = ("error", "success", "timeout", "interrupted")
# What chat runs record (WebSocket messages, approval resumes): the frames of the realtime protocol come from these.
CHAT_STREAM_MODES: list[Any] = ["messages-tuple", "updates", "custom"]
INFLIGHT = ("pending", "running")


class Command(ProtocolSchema):
    """Resume an interrupted thread (`resume`: a value, or a map by interrupt id), update its state
    or jump to nodes (`goto`: a node name, a Send-like {node, input}, or a list of them)."""

    update: dict[str, Any] | list[Any] | None = None
    resume: Any = None
    goto: str | dict[str, Any] | list[str | dict[str, Any]] | None = None


class RunCreate(ProtocolSchema):
    assistant_id: str = Field(..., min_length=1, max_length=200, description="assistant id or graph id")
    input: dict[str, Any] | list[Any] | None = None
    command: Command | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = Field(default_factory=lambda: ["values"])
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = Field(None, max_length=2000)
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = Field(None, max_length=100)
    checkpoint_during: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] = "delete"
    after_seconds: float | None = Field(None, ge=0, le=60 * 60 * 24 * 365)
    feedback_keys: list[str] | None = None
    strict_resume: bool | None = None
    langsmith_tracer: dict[str, Any] | None = None

    @field_validator("stream_mode")
    @classmethod
    def _as_list(cls, value: str | list[str]) -> list[str]:
        modes = [value] if isinstance(value, str) else list(dict.fromkeys(value))
        return modes or ["values"]

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("webhook must be an http(s) URL with a host")
        return value

    @field_validator("config")
    @classmethod
    def _config_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        for key in ("configurable", "metadata"):
            if key in value and not isinstance(value[key], dict):
                raise ValueError(f"config.{key} must be an object")
        if "tags" in value and not (isinstance(value["tags"], list) and all(isinstance(t, str) for t in value["tags"])):
            raise ValueError("config.tags must be a list of strings")
        limit = value.get("recursion_limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000):
            raise ValueError("config.recursion_limit must be an integer from 1 to 10000")
        return value


class RunRead(ProtocolSchema):
    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    status: RunStatus
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    multitask_strategy: MultitaskStrategy


class RunListQuery(ProtocolSchema):
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    status: RunStatus | None = None


class RunCancelMany(ProtocolSchema):
    thread_id: uuid.UUID | None = None
    run_ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    status: Literal["pending", "running", "all"] | None = None

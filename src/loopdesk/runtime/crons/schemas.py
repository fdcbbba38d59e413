"""Agent Protocol cron shapes, as `langgraph-sdk` sends and reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, field_validator

from loopdesk.core.schemas import MAX_OFFSET
from loopdesk.runtime.assistants.schemas import ProtocolSchema
from loopdesk.runtime.runs.schemas import RunCreate

CronField = Literal[
    "cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule", "timezone", "created_at",
    "updated_at", "payload", "user_id", "next_run_date", "metadata", "enabled",
]  # fmt: skip


def check_schedule(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("schedule must be a 5-field cron expression such as '*/15 * * * *'")
    return value


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class CronCreate(RunCreate):
    """A run's fields plus when to start it."""

    schedule: str = Field(..., max_length=200)
    timezone: str | None = Field(None, max_length=64)
    end_time: datetime | None = None
    enabled: bool = True
    on_run_completed: Literal["delete", "keep"] | None = None

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: check_schedule(v)))
    _timezone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))


class CronPatch(ProtocolSchema):
    schedule: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    end_time: datetime | None = None
    enabled: bool | None = None
    input: dict[str, Any] | list[Any] | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = Field(None, max_length=2000)
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    stream_mode: Any = None
    stream_subgraphs: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: v if v is None else check_schedule(v)))
    _timezone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))


class CronRead(ProtocolSchema):
    cron_id: uuid.UUID
    assistant_id: uuid.UUID
    thread_id: uuid.UUID | None
    on_run_completed: str | None
    end_time: datetime | None
    schedule: str
    timezone: str | None
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any]
    user_id: uuid.UUID = Field(validation_alias="owner_id")
    next_run_date: datetime | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    enabled: bool


class CronSearch(ProtocolSchema):
    assistant_id: str | None = Field(None, max_length=200)
    thread_id: uuid.UUID | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[CronField] | None = None


class CronCount(ProtocolSchema):
    assistant_id: str | None = Field(None, max_length=200)
    thread_id: uuid.UUID | None = None
    metadata: dict[str, Any] | None = None

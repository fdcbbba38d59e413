from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from loopdesk.core.schemas import Schema

SideEffectName = Literal["read", "write", "destructive"]


class CredentialsIn(Schema):
    """How loopdesk authenticates to the API: stored encrypted, never shown back or logged."""

    kind: Literal["header", "bearer", "query"]
    name: str = Field("Authorization", min_length=1, max_length=200, description="header or query parameter name")
    value: str = Field(..., min_length=1, max_length=10_000)


class ImportCreate(Schema):
    name: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9_-]+$",
        description="names the tool source; default: a slug of the document's `info.title` (`-2`, `-3` if taken)",
    )
    url: str | None = Field(None, max_length=2000, description="where to fetch the document (JSON or YAML)")
    document: str | None = Field(None, description="the document itself (JSON or YAML text), instead of `url`")
    base_url: str | None = Field(None, max_length=2000, description="the API's base URL, if not the document's")
    credentials: CredentialsIn | None = None
    assistant_ids: list[str] = Field(default_factory=list, max_length=100, description="assistants to give the tools")

    @model_validator(mode="after")
    def _one_source(self) -> ImportCreate:
        if (self.url is None) == (self.document is None):
            raise ValueError("give exactly one of `url` and `document`")
        return self


class ImportRead(Schema):
    id: uuid.UUID
    name: str
    status: Literal["queued", "review", "approved", "failed"]
    source_url: str | None
    base_url: str | None
    error: str | None
    title: str | None = None
    version: str | None = None
    spec_version: str | None = None
    warnings: list[str] = Field(default_factory=list)
    operations: int
    enabled: int
    has_credentials: bool
    assistant_ids: list[str]
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None


class Classification(Schema):
    index: int
    method: str
    path: str
    operation_id: str | None
    tool_name: str
    description: str
    side_effect: SideEffectName
    side_effect_reason: str
    enabled: bool
    args_schema: dict[str, Any]


class ClassificationEdit(Schema):
    tool_name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(None, max_length=4000)
    side_effect: SideEffectName | None = None
    enabled: bool | None = None


class ApproveImport(Schema):
    assistant_ids: list[str] | None = Field(None, max_length=100, description="default: those given at import")

"""Agent Protocol store shapes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from loopdesk.core.schemas import MAX_OFFSET
from loopdesk.runtime.assistants.schemas import ProtocolSchema

# A namespace label: non-empty, no dots (dots join labels in the GET query string), no NUL (PostgreSQL text).
Label = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^.\x00]+$")]
# What PostgreSQL text can hold: no NUL character.
NO_NUL = r"^[^\x00]*$"
Namespace = Annotated[list[Label], Field(max_length=20)]


class StorePut(ProtocolSchema):
    namespace: Namespace = Field(..., min_length=1)
    key: str = Field(..., min_length=1, max_length=500, pattern=NO_NUL)
    value: dict[str, Any]
    index: bool | list[str] | None = None
    ttl: float | None = Field(None, gt=0, le=60 * 24 * 3650, description="minutes (at most ten years)")


class StoreDelete(ProtocolSchema):
    namespace: Namespace = Field(..., min_length=1)
    key: str = Field(..., min_length=1, max_length=500, pattern=NO_NUL)


FILTER_OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}


class StoreSearch(ProtocolSchema):
    namespace_prefix: Namespace = Field(default_factory=list)
    filter: dict[str, Any] | None = Field(
        None, description="field: value, or field: {operator: value} with operators $eq $ne $gt $gte $lt $lte"
    )
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    query: str | None = Field(None, max_length=10_000)
    refresh_ttl: bool | None = None

    @field_validator("filter")
    @classmethod
    def _known_operators(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for field, condition in (value or {}).items():
            if isinstance(condition, dict) and (unknown := set(condition) - FILTER_OPERATORS):
                raise ValueError(f"filter on {field!r}: unsupported operator(s) {sorted(unknown)}")
        return value


class StoreNamespaces(ProtocolSchema):
    prefix: Namespace | None = None
    suffix: Namespace | None = None
    max_depth: int | None = Field(None, ge=1, le=20)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

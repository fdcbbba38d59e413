"""Request and response shapes of /api/v1/dedup."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loopdesk.core.schemas import Schema
from loopdesk.triage.dedup.service import KIND_PATTERN

Kind = Annotated[str, StringConstraints(pattern=KIND_PATTERN), Field(description="bug, suggestion, ...")]


class CheckIn(Schema):
    text: str = Field(..., min_length=1, max_length=1_000_000)
    kind: Kind
    item_id: uuid.UUID | None = Field(
        None, description="index this item and save its links; without it the check changes nothing"
    )


class MatchRead(Schema):
    item_id: uuid.UUID
    kind: str
    similarity: float = Field(..., description="cosine similarity of the embeddings (1.0: the same text)")
    score: float = Field(..., description="what the thresholds apply to: similarity plus the zh-en bonus")
    decision: Literal["linked", "suggested", "unlinked"]
    decided_by: uuid.UUID | None = Field(None, description="set when a person decided the pair")
    excerpt: str


class CheckRead(Schema):
    item_id: uuid.UUID | None
    kind: str
    decision: Literal["linked", "suggested", "none", "skipped"]
    duplicate_of: uuid.UUID | None
    model: str
    indexed: bool
    reason: str | None = None
    matches: list[MatchRead]


class UnlinkIn(Schema):
    other_id: uuid.UUID


class LinkRead(Schema):
    id: int
    item_id: uuid.UUID
    duplicate_of: uuid.UUID
    kind: str
    similarity: float | None
    status: Literal["linked", "suggested", "unlinked"]
    decided_by: uuid.UUID | None
    decided_at: datetime


class ClusterQuery(Schema):
    kind: Kind = "suggestion"
    threshold: float | None = Field(None, gt=0, le=1, description="default: the suggest threshold")
    min_size: int = Field(2, ge=2, le=10_000)
    limit: int = Field(50, ge=1, le=500)


class ClusterRead(Schema):
    representative_id: uuid.UUID
    representative_text: str
    count: int
    item_ids: list[uuid.UUID]


class ClustersRead(Schema):
    kind: str
    threshold: float
    clusters: list[ClusterRead]

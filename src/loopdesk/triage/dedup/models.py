"""Tables of de-duplication: one embedding per feedback item (bug, suggestion, ...) and the links
between items, each either decided by the system (thresholds) or by a person (sticky)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base
from loopdesk.triage.dedup.embeddings import DIMS

LINK_STATUSES = ("linked", "suggested", "unlinked")


class DedupEmbedding(Base):
    """The feedback workflow owns the items; this table only knows their id, kind and owner."""

    __tablename__ = "dedup_embeddings"
    __table_args__ = (
        Index(
            "ix_dedup_embeddings_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index("ix_dedup_embeddings_kind_model", "kind", "model"),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None, index=True)
    model: Mapped[str] = mapped_column(String(64))
    script: Mapped[str] = mapped_column(String(8))
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    excerpt: Mapped[str] = mapped_column(Text)
    embedding: Mapped[list[float]] = mapped_column(Vector(DIMS))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DedupLink(Base):
    """`item_id` duplicates the older `duplicate_of`. One row per unordered pair, so an `unlinked`
    decision holds whichever way round the pair comes back."""

    __tablename__ = "dedup_links"
    __table_args__ = (
        CheckConstraint("status IN ('linked', 'suggested', 'unlinked')", name="status"),
        CheckConstraint("item_id <> duplicate_of", name="distinct_items"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dedup_embeddings.item_id", ondelete="CASCADE"), index=True)
    duplicate_of: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dedup_embeddings.item_id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    similarity: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16))
    # NULL: decided by the thresholds (may be revised by a later check); set: a person's, kept.
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


Index(
    "uq_dedup_links_pair",
    func.least(DedupLink.item_id, DedupLink.duplicate_of),
    func.greatest(DedupLink.item_id, DedupLink.duplicate_of),
    unique=True,
)

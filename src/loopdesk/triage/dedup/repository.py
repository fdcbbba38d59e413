"""SQL of de-duplication. Every read of embeddings goes through `readable()`: a caller scoped to an
owner sees that owner's items only. Nothing here commits: the request or the job owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Select, and_, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.triage.dedup.models import DedupEmbedding, DedupLink


@dataclass(frozen=True, slots=True)
class Neighbour:
    item_id: uuid.UUID
    kind: str
    owner_id: uuid.UUID | None
    script: str
    text_hash: str
    excerpt: str
    similarity: float


def readable(model: str, *, kind: str | None = None, owner_id: uuid.UUID | None = None) -> Select:
    """Embeddings of this model (vectors of different models are not comparable), of this kind,
    of this owner when the caller is scoped to one."""
    statement = select(DedupEmbedding).where(DedupEmbedding.model == model)
    if kind is not None:
        statement = statement.where(DedupEmbedding.kind == kind)
    if owner_id is not None:
        statement = statement.where(DedupEmbedding.owner_id == owner_id)
    return statement


async def nearest(
    session: AsyncSession,
    vector: np.ndarray,
    *,
    model: str,
    kind: str | None,
    owner_id: uuid.UUID | None,
    k: int,
    exclude: Collection[uuid.UUID] = (),
) -> list[Neighbour]:
    await _scan_settings(session, k)
    distance = DedupEmbedding.embedding.cosine_distance(vector)
    statement = (
        readable(model, kind=kind, owner_id=owner_id)
        .add_columns((1 - distance).label("similarity"))
        .order_by(distance)
        .limit(k)
    )
    if exclude:
        statement = statement.where(DedupEmbedding.item_id.not_in(list(exclude)))
    rows = (await session.execute(statement)).all()
    return [_neighbour(row.DedupEmbedding, float(row.similarity)) for row in rows]


async def _scan_settings(session: AsyncSession, k: int) -> None:
    # A filtered HNSW scan stops after ef_search rows; an iterative one goes on until k rows pass the filter.
    await session.execute(
        text("SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', :ef, true)"),
        {"ef": str(max(40, 2 * k))},
    )


def _neighbour(row: DedupEmbedding, similarity: float) -> Neighbour:
    return Neighbour(row.item_id, row.kind, row.owner_id, row.script, row.text_hash, row.excerpt, similarity)


async def same_text(
    session: AsyncSession, text_hash: str, *, model: str, kind: str, owner_id: uuid.UUID | None, exclude: uuid.UUID
) -> list[Neighbour]:
    statement = (
        readable(model, kind=kind, owner_id=owner_id)
        .where(DedupEmbedding.text_hash == text_hash, DedupEmbedding.item_id != exclude)
        .order_by(DedupEmbedding.created_at)
        .limit(10)
    )
    return [_neighbour(row, 1.0) for row in (await session.scalars(statement)).all()]


async def get_embedding(session: AsyncSession, item_id: uuid.UUID) -> DedupEmbedding | None:
    return await session.get(DedupEmbedding, item_id)


async def upsert_embedding(
    session: AsyncSession,
    *,
    item_id: uuid.UUID,
    kind: str,
    owner_id: uuid.UUID | None,
    model: str,
    script: str,
    text_hash: str,
    excerpt: str,
    vector: np.ndarray,
) -> None:
    values = {
        "item_id": item_id,
        "kind": kind,
        "owner_id": owner_id,
        "model": model,
        "script": script,
        "text_hash": text_hash,
        "excerpt": excerpt,
        "embedding": vector,
    }
    statement = insert(DedupEmbedding).values(**values)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[DedupEmbedding.item_id],
        set_={
            "kind": excluded.kind,
            "owner_id": func.coalesce(excluded.owner_id, DedupEmbedding.owner_id),
            "model": excluded.model,
            "script": excluded.script,
            "text_hash": excluded.text_hash,
            "excerpt": excluded.excerpt,
            "embedding": excluded.embedding,
            "updated_at": func.now(),
        },
    )
    await session.execute(statement)


# The unordered pair, as uq_dedup_links_pair indexes it (the conflict target of upserts).
_PAIR = [
    func.least(DedupLink.item_id, DedupLink.duplicate_of),
    func.greatest(DedupLink.item_id, DedupLink.duplicate_of),
]


async def links_of(
    session: AsyncSession, item_id: uuid.UUID, others: Iterable[uuid.UUID]
) -> dict[uuid.UUID, DedupLink]:
    """The link row of each pair (item_id, other) that has one, keyed by the other item."""
    others = list(others)
    if not others:
        return {}
    statement = select(DedupLink).where(
        or_(
            and_(DedupLink.item_id == item_id, DedupLink.duplicate_of.in_(others)),
            and_(DedupLink.duplicate_of == item_id, DedupLink.item_id.in_(others)),
        )
    )
    rows = (await session.scalars(statement)).all()
    return {row.duplicate_of if row.item_id == item_id else row.item_id: row for row in rows}


async def unlinked_for_owner(session: AsyncSession, owner_id: uuid.UUID, others: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `others` that a person unlinked from an item of `owner_id`'s."""
    others = list(others)
    if not others:
        return set()
    owned = select(DedupEmbedding.item_id).where(DedupEmbedding.owner_id == owner_id)
    statement = select(DedupLink.item_id, DedupLink.duplicate_of).where(
        DedupLink.status == "unlinked",
        DedupLink.decided_by.is_not(None),
        or_(
            and_(DedupLink.item_id.in_(owned), DedupLink.duplicate_of.in_(others)),
            and_(DedupLink.duplicate_of.in_(owned), DedupLink.item_id.in_(others)),
        ),
    )
    found = set()
    for item_id, duplicate_of in await session.execute(statement):
        found.update({item_id, duplicate_of})
    return found & set(others)


async def save_system_link(
    session: AsyncSession, item_id: uuid.UUID, other: uuid.UUID, *, kind: str, similarity: float, status: str
) -> None:
    """Insert or revise a threshold decision; a person's decision on the pair is left as it is."""
    statement = insert(DedupLink).values(
        item_id=item_id, duplicate_of=other, kind=kind, similarity=similarity, status=status
    )
    statement = statement.on_conflict_do_update(
        index_elements=_PAIR,
        set_={"similarity": similarity, "status": status, "decided_at": func.now()},
        where=DedupLink.decided_by.is_(None),
    )
    await session.execute(statement)


async def drop_stale_system_links(session: AsyncSession, item_id: uuid.UUID, keep: Collection[uuid.UUID]) -> None:
    """A re-checked item's threshold links that no longer hold (its text changed)."""
    statement = delete(DedupLink).where(DedupLink.item_id == item_id, DedupLink.decided_by.is_(None))
    if keep:
        statement = statement.where(DedupLink.duplicate_of.not_in(list(keep)))
    await session.execute(statement)


async def save_decision(
    session: AsyncSession, item_id: uuid.UUID, other: uuid.UUID, *, kind: str, status: str, by: uuid.UUID | None
) -> DedupLink:
    """A person's decision on a pair: updates the pair's row (either direction) or creates it."""
    now = datetime.now(UTC)
    statement = (
        insert(DedupLink)
        .values(item_id=item_id, duplicate_of=other, kind=kind, status=status, decided_by=by, decided_at=now)
        .on_conflict_do_update(index_elements=_PAIR, set_={"status": status, "decided_by": by, "decided_at": now})
        .returning(DedupLink)
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(statement)
    assert row is not None
    return row


async def neighbour_edges(
    session: AsyncSession, *, model: str, kind: str, k: int
) -> list[tuple[uuid.UUID, uuid.UUID, float, bool]]:
    """(a, b, cosine, same script) for each item and its k nearest items of the same kind."""
    await _scan_settings(session, k)
    rows = await session.execute(
        text(
            """
            SELECT e.item_id AS a, n.item_id AS b, 1 - (e.embedding <=> n.embedding) AS similarity,
                   e.script = n.script AS same_script
            FROM dedup_embeddings e
            CROSS JOIN LATERAL (
                SELECT m.item_id, m.embedding, m.script FROM dedup_embeddings m
                WHERE m.kind = e.kind AND m.model = e.model AND m.item_id <> e.item_id
                ORDER BY m.embedding <=> e.embedding
                LIMIT :k
            ) n
            WHERE e.kind = :kind AND e.model = :model
            """
        ),
        {"kind": kind, "model": model, "k": k},
    )
    return [(row.a, row.b, float(row.similarity), bool(row.same_script)) for row in rows]


async def links_of_kind(session: AsyncSession, kind: str, statuses: Collection[str]) -> list[DedupLink]:
    statement = select(DedupLink).where(DedupLink.kind == kind, DedupLink.status.in_(list(statuses)))
    return list((await session.scalars(statement)).all())


async def embeddings_of(session: AsyncSession, item_ids: Collection[uuid.UUID]) -> list[DedupEmbedding]:
    statement = select(DedupEmbedding).where(DedupEmbedding.item_id.in_(list(item_ids)))
    return list((await session.scalars(statement)).all())

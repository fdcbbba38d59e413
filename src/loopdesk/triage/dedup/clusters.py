"""Groups of similar items (suggestions, by default): connected components over each item's nearest
neighbours above a threshold and the links people confirmed, minus the pairs people unlinked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.triage.dedup import repository
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import Embedder
from loopdesk.triage.dedup.models import DedupEmbedding
from loopdesk.triage.dedup.service import default_settings, load_embedder


@dataclass(frozen=True, slots=True)
class Cluster:
    representative_id: uuid.UUID  # the member closest to the cluster's mean direction
    representative_text: str
    count: int
    item_ids: list[uuid.UUID]


class _Components:
    def __init__(self) -> None:
        self.parent: dict[uuid.UUID, uuid.UUID] = {}

    def add(self, node: uuid.UUID) -> None:
        self.parent.setdefault(node, node)

    def find(self, node: uuid.UUID) -> uuid.UUID:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: uuid.UUID, b: uuid.UUID) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[uuid.UUID]]:
        out: dict[uuid.UUID, list[uuid.UUID]] = {}
        for node in self.parent:
            out.setdefault(self.find(node), []).append(node)
        return list(out.values())


async def clusters(
    session: AsyncSession,
    kind: str = "suggestion",
    threshold: float | None = None,
    *,
    min_size: int = 2,
    limit: int = 100,
    settings: DedupSettings | None = None,
    embedder: Embedder | None = None,
) -> list[Cluster]:
    """Largest first. `threshold` applies to the same score as checks (cosine, plus the cross-script
    bonus for zh-en pairs); it defaults to the suggest threshold."""
    settings = settings or default_settings()
    embedder = embedder or await load_embedder(settings)
    threshold = settings.suggest_threshold if threshold is None else threshold
    edges = await repository.neighbour_edges(session, model=embedder.name, kind=kind, k=settings.candidates)
    links = await repository.links_of_kind(session, kind, ("linked", "unlinked"))
    unlinked = {frozenset((link.item_id, link.duplicate_of)) for link in links if link.status == "unlinked"}
    components = _Components()
    for a, b, similarity, same_script in edges:
        components.add(a)
        score = round(similarity if same_script else similarity + settings.cross_script_bonus, 6)
        if score >= threshold and frozenset((a, b)) not in unlinked:
            components.add(b)
            components.union(a, b)
    for link in links:
        if link.status == "linked" and {link.item_id, link.duplicate_of} <= components.parent.keys():
            components.union(link.item_id, link.duplicate_of)
    groups = [g for g in components.groups() if len(g) >= min_size]
    groups = sorted(groups, key=lambda g: (-len(g), min(g)))[:limit]
    rows = {row.item_id: row for row in await repository.embeddings_of(session, [i for g in groups for i in g])}
    return [_describe([rows[item_id] for item_id in group]) for group in groups]


def _describe(rows: list[DedupEmbedding]) -> Cluster:
    vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
    centre = vectors.mean(axis=0)
    central = rows[int(np.argmax(vectors @ centre))]
    item_ids = sorted((row.item_id for row in rows), key=str)
    return Cluster(central.item_id, central.excerpt, len(rows), item_ids)

"""Clusters of similar suggestions with the real model: two topics in two languages and a loner."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.triage.dedup import service
from loopdesk.triage.dedup.clusters import clusters
from loopdesk.triage.dedup.embeddings import Embedder
from loopdesk.triage.dedup.service import ItemText

DARK = ["Please add a dark mode", "I'd love a dark theme option for night use", "希望增加夜间模式"]
CSV = [
    "Export to CSV would be really useful",
    "Please let us export reports as CSV files",
    "建议支持导出CSV报表",
    "能不能把报表导出成CSV文件",
]
LONER = "Can you add keyboard shortcuts?"


async def index_all(session: AsyncSession, embedder: Embedder, texts: list[str], kind: str) -> dict[str, uuid.UUID]:
    items = [ItemText(uuid.uuid4(), kind, text) for text in texts]
    results = await service.index_items(session, items, embedder=embedder)
    assert {r.status for r in results} == {"indexed"}
    return {item.text: item.item_id for item in items}  # type: ignore[misc]


class TestClusters:
    async def test_similar_suggestions_are_grouped_with_counts(self, session: AsyncSession, embedder: Embedder) -> None:
        ids = await index_all(session, embedder, [*DARK, *CSV, LONER], "suggestion")
        await index_all(session, embedder, ["Please add a dark mode!"], "bug")  # another kind: not counted

        found = await clusters(session, "suggestion", embedder=embedder)

        assert [c.count for c in found] == [4, 3]
        assert set(found[0].item_ids) == {ids[t] for t in CSV}
        assert set(found[1].item_ids) == {ids[t] for t in DARK}
        assert found[0].representative_id in found[0].item_ids
        assert found[0].representative_text in CSV
        assert ids[LONER] not in {i for c in found for i in c.item_ids}

    async def test_an_unlinked_pair_is_split_off(self, session: AsyncSession, embedder: Embedder) -> None:
        ids = await index_all(session, embedder, DARK[:2], "suggestion")
        assert [c.count for c in await clusters(session, "suggestion", embedder=embedder)] == [2]
        await service.unlink(session, ids[DARK[0]], ids[DARK[1]], uuid.uuid4())
        assert await clusters(session, "suggestion", embedder=embedder) == []

    async def test_a_higher_threshold_gives_smaller_clusters(self, session: AsyncSession, embedder: Embedder) -> None:
        await index_all(session, embedder, CSV, "suggestion")
        found = await clusters(session, "suggestion", 0.97, embedder=embedder)
        assert [c.count for c in found] == [2]  # only the two Chinese paraphrases (~0.97)
        assert await clusters(session, "suggestion", 0.97, min_size=3, embedder=embedder) == []

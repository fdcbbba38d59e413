"""De-duplication service against a real, migrated PostgreSQL and the real model (texts chosen to land
clearly inside a band: their cosines are in benchmarks/README.md's range), plus a vector double for
the exact threshold boundaries."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.models import AuditEvent
from loopdesk.core.errors import BadRequest
from loopdesk.triage.dedup import service
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import Embedder
from loopdesk.triage.dedup.models import DedupEmbedding, DedupLink
from loopdesk.triage.dedup.service import ItemNotIndexed, ItemText
from tests.triage.dedup.conftest import VectorsByText, at_cosine, base

CRASH = "The app crashes when I upload a photo"
CRASH_PARAPHRASE = "Uploading a picture makes the application crash"  # ~0.97: linked
CRASH_ZH = "上传图片时应用崩溃"  # ~0.90 with CRASH, zh-en: suggested
DARK = "Please add a dark mode"
DARK_PARAPHRASE = "I'd love a dark theme option for night use"  # ~0.91: suggested
INVOICE = "The invoice total doesn't include tax"
SHORTCUTS = "Can you add keyboard shortcuts?"  # ~0.77 with INVOICE: nothing


def new_id() -> uuid.UUID:
    return uuid.uuid4()


async def index(session: AsyncSession, embedder: Embedder, text: str, kind: str = "bug", **kw) -> uuid.UUID:
    item_id = new_id()
    result = await service.index_item(session, item_id, kind, text, embedder=embedder, **kw)
    assert result.status == "indexed", result
    return item_id


class TestIndexAndNearest:
    async def test_nearest_returns_the_paraphrase_first(self, session: AsyncSession, embedder: Embedder) -> None:
        crash = await index(session, embedder, CRASH)
        await index(session, embedder, INVOICE)
        await index(session, embedder, DARK, kind="suggestion")
        found = await service.nearest(session, CRASH_PARAPHRASE, k=3, embedder=embedder)
        assert found[0].item_id == crash
        assert found[0].similarity > 0.95
        assert [n.similarity for n in found] == sorted((n.similarity for n in found), reverse=True)

    async def test_nearest_filters_by_kind_and_owner(self, session: AsyncSession, embedder: Embedder) -> None:
        owner = new_id()
        mine = await index(session, embedder, CRASH, owner_id=owner)
        await index(session, embedder, CRASH_PARAPHRASE)
        suggestion = await index(session, embedder, DARK, kind="suggestion")
        assert [n.item_id for n in await service.nearest(session, CRASH, readable_by=owner, embedder=embedder)] == [
            mine
        ]
        only = await service.nearest(session, CRASH, kind="suggestion", embedder=embedder)
        assert [n.item_id for n in only] == [suggestion]

    async def test_nearest_takes_a_vector(self, session: AsyncSession, embedder: Embedder) -> None:
        crash = await index(session, embedder, CRASH)
        vector = embedder.embed([CRASH])[0]
        found = await service.nearest(session, vector, k=1, embedder=embedder)
        assert found[0].item_id == crash and found[0].similarity == pytest.approx(1.0, abs=1e-4)

    async def test_same_text_again_is_not_embedded_again(self, session: AsyncSession, embedder: Embedder) -> None:
        item = await index(session, embedder, CRASH)
        again = await service.index_item(
            session, item, "bug", "  the APP crashes when I upload a photo ", embedder=embedder
        )
        assert again.status == "unchanged"
        changed = await service.index_item(session, item, "bug", DARK, embedder=embedder)
        assert changed.status == "indexed"
        row = await session.get(DedupEmbedding, item, populate_existing=True)
        assert row is not None and row.excerpt == DARK


class TestCheck:
    async def test_a_paraphrase_is_linked(self, session: AsyncSession, embedder: Embedder) -> None:
        original = await index(session, embedder, CRASH)
        item = new_id()
        result = await service.check_duplicates(session, item, CRASH_PARAPHRASE, "bug", embedder=embedder)
        assert (result.decision, result.duplicate_of, result.indexed) == ("linked", original, True)
        link = await session.scalar(select(DedupLink).where(DedupLink.item_id == item))
        assert link is not None and (link.duplicate_of, link.status, link.decided_by) == (original, "linked", None)
        assert await session.get(DedupEmbedding, item) is not None

    async def test_the_same_text_is_linked_with_similarity_one(self, session: AsyncSession, embedder: Embedder) -> None:
        original = await index(session, embedder, INVOICE)
        result = await service.check_duplicates(session, new_id(), INVOICE.upper(), "bug", embedder=embedder)
        assert result.decision == "linked"
        assert (result.matches[0].item_id, result.matches[0].similarity) == (original, 1.0)

    async def test_a_close_but_not_certain_text_is_suggested(self, session: AsyncSession, embedder: Embedder) -> None:
        original = await index(session, embedder, DARK, kind="suggestion")
        result = await service.check_duplicates(session, new_id(), DARK_PARAPHRASE, "suggestion", embedder=embedder)
        assert (result.decision, result.duplicate_of) == ("suggested", None)
        assert [(m.item_id, m.decision) for m in result.matches] == [(original, "suggested")]
        assert 0.89 <= result.matches[0].similarity < 0.95

    async def test_an_unrelated_text_is_neither(self, session: AsyncSession, embedder: Embedder) -> None:
        await index(session, embedder, INVOICE)
        item = new_id()
        result = await service.check_duplicates(session, item, SHORTCUTS, "bug", embedder=embedder)
        assert (result.decision, result.matches) == ("none", [])
        assert await session.scalar(select(DedupLink)) is None

    async def test_other_kinds_are_not_compared(self, session: AsyncSession, embedder: Embedder) -> None:
        await index(session, embedder, CRASH, kind="suggestion")
        result = await service.check_duplicates(session, new_id(), CRASH, "bug", embedder=embedder)
        assert result.decision == "none"

    async def test_a_check_without_item_id_writes_nothing(self, session: AsyncSession, embedder: Embedder) -> None:
        await index(session, embedder, CRASH)
        result = await service.check_duplicates(session, None, CRASH_PARAPHRASE, "bug", embedder=embedder)
        assert (result.decision, result.indexed) == ("linked", False)
        assert await session.scalar(select(DedupLink)) is None

    async def test_a_changed_text_drops_the_links_that_no_longer_hold(
        self, session: AsyncSession, embedder: Embedder
    ) -> None:
        await index(session, embedder, CRASH)
        item = new_id()
        await service.check_duplicates(session, item, CRASH_PARAPHRASE, "bug", embedder=embedder)
        result = await service.check_duplicates(session, item, SHORTCUTS, "bug", embedder=embedder)
        assert result.decision == "none"
        assert await session.scalar(select(DedupLink)) is None


class TestBilingual:
    async def test_a_chinese_report_of_an_english_bug_is_suggested(
        self, session: AsyncSession, embedder: Embedder
    ) -> None:
        original = await index(session, embedder, CRASH)
        result = await service.check_duplicates(session, new_id(), CRASH_ZH, "bug", embedder=embedder)
        assert (result.decision, result.matches[0].item_id) == ("suggested", original)
        match = result.matches[0]
        assert match.score == pytest.approx(match.similarity + 0.06)

    async def test_chinese_paraphrases_are_linked(self, session: AsyncSession, embedder: Embedder) -> None:
        original = await index(session, embedder, "建议支持导出CSV报表", kind="suggestion")
        result = await service.check_duplicates(
            session, new_id(), "能不能把报表导出成CSV文件", "suggestion", embedder=embedder
        )
        assert (result.decision, result.duplicate_of) == ("linked", original)


class TestUnlink:
    async def test_an_unlinked_pair_is_never_linked_again(self, session: AsyncSession, embedder: Embedder) -> None:
        staff = new_id()
        original = await index(session, embedder, CRASH)
        item = new_id()
        assert (
            await service.check_duplicates(session, item, CRASH_PARAPHRASE, "bug", embedder=embedder)
        ).decision == "linked"
        link = await service.unlink(session, original, item, staff)  # either order names the pair
        assert (link.status, link.decided_by, link.item_id, link.duplicate_of) == ("unlinked", staff, item, original)

        again = await service.check_duplicates(session, item, CRASH_PARAPHRASE, "bug", embedder=embedder)
        assert (again.decision, again.duplicate_of) == ("none", None)
        assert [(m.item_id, m.decision, m.decided_by) for m in again.matches] == [(original, "unlinked", staff)]
        reverse = await service.check_duplicates(session, original, CRASH, "bug", embedder=embedder)
        assert [(m.decision, m.decided_by) for m in reverse.matches] == [("unlinked", staff)]
        rows = (await session.scalars(select(DedupLink))).all()
        assert [(r.status, r.decided_by) for r in rows] == [("unlinked", staff)]
        audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "dedup.unlinked"))
        assert audit is not None and audit.actor_id == staff

    async def test_a_pair_can_be_unlinked_before_any_check(self, session: AsyncSession, embedder: Embedder) -> None:
        a, b = await index(session, embedder, CRASH), await index(session, embedder, CRASH_PARAPHRASE)
        await service.unlink(session, a, b, new_id())
        result = await service.check_duplicates(session, b, CRASH_PARAPHRASE, "bug", embedder=embedder)
        assert result.decision == "none"

    async def test_unlinking_needs_two_indexed_items(self, session: AsyncSession, embedder: Embedder) -> None:
        a = await index(session, embedder, CRASH)
        with pytest.raises(ItemNotIndexed):
            await service.unlink(session, a, new_id(), new_id())
        with pytest.raises(BadRequest):
            await service.unlink(session, a, a, new_id())


class TestThresholdBoundaries:
    SETTINGS = DedupSettings(link_threshold=0.95, suggest_threshold=0.88, cross_script_bonus=0.06, _env_file=None)

    @pytest.mark.parametrize(
        ("similarity", "same_script", "decision"),
        [
            (0.95, True, "linked"),
            (0.9499, True, "suggested"),
            (0.88, True, "suggested"),
            (0.8799, True, "none"),
            (0.82, False, "suggested"),  # 0.82 + 0.06 reaches the suggest threshold
            (0.8199, False, "none"),
            (0.999, False, "suggested"),  # a zh-en pair is confirmed by a person, never linked
        ],
    )
    def test_decision_at_the_thresholds(self, similarity: float, same_script: bool, decision: str) -> None:
        assert service.decide(similarity, same_script=same_script, exact=False, settings=self.SETTINGS)[1] == decision

    @pytest.mark.parametrize(
        ("cosine", "decision"), [(0.952, "linked"), (0.948, "suggested"), (0.882, "suggested"), (0.878, "none")]
    )
    async def test_stored_vectors_are_decided_at_the_thresholds(
        self, session: AsyncSession, cosine: float, decision: str
    ) -> None:
        double = VectorsByText({"original report": base(), "new report": at_cosine(cosine)})
        await service.index_item(session, new_id(), "bug", "original report", embedder=double)
        result = await service.check_duplicates(
            session, new_id(), "new report", "bug", settings=self.SETTINGS, embedder=double
        )
        assert result.decision == decision
        if result.matches:
            assert result.matches[0].similarity == pytest.approx(cosine, abs=1e-5)

    def test_suggest_above_link_is_refused(self) -> None:
        with pytest.raises(ValueError, match="suggest_threshold"):
            DedupSettings(link_threshold=0.8, suggest_threshold=0.9, _env_file=None)

    def test_thresholds_come_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(os.environ, "LOOPDESK_DEDUP_LINK_THRESHOLD", "0.97")
        assert DedupSettings(_env_file=None).link_threshold == 0.97


class TestBadInput:
    async def test_a_batch_indexes_the_good_items_and_reports_the_rest(
        self, session: AsyncSession, embedder: Embedder
    ) -> None:
        items = [
            ItemText(new_id(), "bug", ""),
            ItemText(new_id(), "bug", "\x00\x01\x02 \x7f"),
            ItemText(new_id(), "bug", "x" * 1_000_000),
            ItemText(new_id(), "bug", os.urandom(1024)),
            ItemText(new_id(), "bug", "lone \ud800 surrogate in a report"),
            ItemText(new_id(), "Not A Kind", CRASH),
            ItemText(new_id(), "bug", CRASH),
        ]
        results = await service.index_items(session, items, embedder=embedder)
        assert [(r.item_id, r.status, r.reason) for r in results] == [
            (items[0].item_id, "skipped", "no_text"),
            (items[1].item_id, "skipped", "no_text"),
            (items[2].item_id, "indexed", None),
            (items[3].item_id, "indexed", None),
            (items[4].item_id, "indexed", None),
            (items[5].item_id, "skipped", "invalid_kind"),
            (items[6].item_id, "indexed", None),
        ]
        found = await service.nearest(session, CRASH_PARAPHRASE, k=1, embedder=embedder)
        assert found[0].item_id == items[6].item_id

    async def test_one_text_the_engine_fails_on_costs_only_itself(
        self, session: AsyncSession, embedder: Embedder
    ) -> None:
        class Picky:
            name, dims = embedder.name, embedder.dims

            def embed(self, texts):  # type: ignore[no-untyped-def]
                if any("poison" in t for t in texts):
                    raise RuntimeError("engine failure")
                return embedder.embed(texts)

        items = [ItemText(new_id(), "bug", "poison pill"), ItemText(new_id(), "bug", CRASH)]
        results = await service.index_items(session, items, embedder=Picky())
        assert [(r.status, r.reason) for r in results] == [("failed", "embedding_failed"), ("indexed", None)]

    async def test_checking_an_empty_text_is_skipped(self, session: AsyncSession, embedder: Embedder) -> None:
        result = await service.check_duplicates(session, new_id(), " \x00 ", "bug", embedder=embedder)
        assert (result.decision, result.reason, result.indexed) == ("skipped", "no_text", False)

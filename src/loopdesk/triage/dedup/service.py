"""De-duplication of feedback: index items, find their nearest neighbours, decide link / suggest /
nothing by thresholds, keep people's unlink decisions, group similar suggestions. Services flush;
the caller owns the transaction."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit import service as audit
from loopdesk.core.errors import BadRequest, NotFound
from loopdesk.triage.dedup import repository
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import Embedder, get_embedder
from loopdesk.triage.dedup.models import DedupLink
from loopdesk.triage.dedup.text import NoText, PreparedText, prepare
from loopdesk.triage.dedup.text import clean as clean_text

log = structlog.get_logger("loopdesk.dedup")

PairDecision = Literal["linked", "suggested", "unlinked", "none"]
CheckDecision = Literal["linked", "suggested", "none", "skipped"]
KIND_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class ItemNotIndexed(NotFound):
    code, message = "item_not_indexed", "Item is not indexed for de-duplication"


@dataclass(frozen=True, slots=True)
class ItemText:
    item_id: uuid.UUID
    kind: str
    text: str | bytes
    owner_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class IndexResult:
    item_id: uuid.UUID
    status: Literal["indexed", "unchanged", "skipped", "failed"]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    item_id: uuid.UUID
    kind: str
    similarity: float  # cosine of the two embeddings (1.0 for the same text)
    score: float  # what the thresholds were applied to: cosine plus the cross-script bonus
    decision: PairDecision
    decided_by: uuid.UUID | None
    excerpt: str


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    item_id: uuid.UUID | None
    kind: str
    decision: CheckDecision
    duplicate_of: uuid.UUID | None
    model: str
    indexed: bool
    matches: list[Match] = field(default_factory=list)
    reason: str | None = None


@cache
def default_settings() -> DedupSettings:
    return DedupSettings()


async def load_embedder(settings: DedupSettings, *, allow_fallback: bool | None = None) -> Embedder:
    return await asyncio.to_thread(get_embedder, threads=settings.embed_threads, allow_fallback=allow_fallback)


def decide(similarity: float, *, same_script: bool, exact: bool, settings: DedupSettings) -> tuple[float, PairDecision]:
    """(score, decision) of one pair. A zh-en pair never links on its own: a person confirms it."""
    if exact:
        return 1.0, "linked"
    # Rounded: 0.82 + 0.06 must reach 0.88, and the database's cosines carry float32 noise.
    score = round(similarity if same_script else min(1.0, similarity + settings.cross_script_bonus), 6)
    if same_script and score >= settings.link_threshold:
        return score, "linked"
    if score >= settings.suggest_threshold:
        return score, "suggested"
    return score, "none"


async def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return await asyncio.to_thread(embedder.embed, texts)


async def index_item(
    session: AsyncSession,
    item_id: uuid.UUID,
    kind: str,
    text: str | bytes,
    *,
    owner_id: uuid.UUID | None = None,
    settings: DedupSettings | None = None,
    embedder: Embedder | None = None,
) -> IndexResult:
    results = await index_items(
        session, [ItemText(item_id, kind, text, owner_id)], settings=settings, embedder=embedder
    )
    return results[0]


async def index_items(
    session: AsyncSession,
    items: Sequence[ItemText],
    *,
    settings: DedupSettings | None = None,
    embedder: Embedder | None = None,
) -> list[IndexResult]:
    """Index a batch; each item gets its own result and a bad one (empty, junk) never fails the rest.
    An item whose text did not change is not embedded again."""
    settings = settings or default_settings()
    embedder = embedder or await load_embedder(settings)
    results: dict[int, IndexResult] = {}
    todo: list[tuple[int, ItemText, PreparedText]] = []
    existing = {row.item_id: row for row in await repository.embeddings_of(session, {i.item_id for i in items})}
    for position, item in enumerate(items):
        if not _valid_kind(item.kind):
            results[position] = IndexResult(item.item_id, "skipped", "invalid_kind")
            continue
        try:
            prepared = prepare(item.text, max_chars=settings.max_chars)
        except NoText:
            results[position] = IndexResult(item.item_id, "skipped", "no_text")
            continue
        row = existing.get(item.item_id)
        if row is not None and (row.text_hash, row.model, row.kind) == (prepared.text_hash, embedder.name, item.kind):
            results[position] = IndexResult(item.item_id, "unchanged")
            continue
        todo.append((position, item, prepared))
    vectors = await _embed_each(embedder, [prepared.text for _, _, prepared in todo])
    for (position, item, prepared), vector in zip(todo, vectors, strict=True):
        if vector is None:
            results[position] = IndexResult(item.item_id, "failed", "embedding_failed")
            continue
        await _save(session, item.item_id, item.kind, item.owner_id, prepared, vector, embedder.name)
        results[position] = IndexResult(item.item_id, "indexed")
    await session.flush()
    for result in results.values():
        if result.status in ("skipped", "failed"):
            log.warning(
                "dedup.item.not_indexed", item_id=str(result.item_id), status=result.status, reason=result.reason
            )
    return [results[position] for position in range(len(items))]


async def _embed_each(embedder: Embedder, texts: list[str]) -> list[np.ndarray | None]:
    """The batch at once; if that fails, one by one, so that one bad text costs only itself."""
    if not texts:
        return []
    try:
        return list(await _embed(embedder, texts))
    except Exception:
        log.exception("dedup.embed.batch_failed", size=len(texts))
    out: list[np.ndarray | None] = []
    for text in texts:
        try:
            out.append((await _embed(embedder, [text]))[0])
        except Exception:
            log.exception("dedup.embed.failed", chars=len(text))
            out.append(None)
    return out


def _valid_kind(kind: str) -> bool:
    return isinstance(kind, str) and re.fullmatch(KIND_PATTERN, kind) is not None


async def _save(
    session: AsyncSession,
    item_id: uuid.UUID,
    kind: str,
    owner_id: uuid.UUID | None,
    prepared: PreparedText,
    vector: np.ndarray,
    model: str,
) -> None:
    await repository.upsert_embedding(
        session,
        item_id=item_id,
        kind=kind,
        owner_id=owner_id,
        model=model,
        script=prepared.script,
        text_hash=prepared.text_hash,
        excerpt=prepared.excerpt,
        vector=vector,
    )


async def nearest(
    session: AsyncSession,
    query: str | np.ndarray,
    kind: str | None = None,
    k: int = 10,
    *,
    readable_by: uuid.UUID | None = None,
    exclude: Sequence[uuid.UUID] = (),
    settings: DedupSettings | None = None,
    embedder: Embedder | None = None,
) -> list[repository.Neighbour]:
    """The k most similar indexed items (cosine, via the HNSW index). `readable_by` limits the search
    to one owner's items; None searches all (staff and the system)."""
    settings = settings or default_settings()
    embedder = embedder or await load_embedder(settings)
    if isinstance(query, str):
        vector = (await _embed(embedder, [clean_text(query)[: settings.max_chars]]))[0]
    else:
        vector = np.asarray(query, dtype=np.float32)
    return await repository.nearest(
        session, vector, model=embedder.name, kind=kind, owner_id=readable_by, k=k, exclude=exclude
    )


async def check_duplicates(
    session: AsyncSession,
    item_id: uuid.UUID | None,
    text: str | bytes,
    kind: str,
    *,
    owner_id: uuid.UUID | None = None,
    readable_by: uuid.UUID | None = None,
    record: bool = True,
    settings: DedupSettings | None = None,
    embedder: Embedder | None = None,
) -> DuplicateCheck:
    """Compare a text with the indexed items of its kind and decide. With an `item_id` and `record`,
    the item is indexed (one embedding for both) and the threshold links are saved; a person's
    decision on a pair (unlink) is reported, never overridden."""
    settings = settings or default_settings()
    embedder = embedder or await load_embedder(settings)
    record = record and item_id is not None
    if record and readable_by is not None:
        await _check_owner(session, item_id, readable_by)  # type: ignore[arg-type]
    try:
        prepared = prepare(text, max_chars=settings.max_chars)
    except NoText:
        return DuplicateCheck(item_id, kind, "skipped", None, embedder.name, indexed=False, reason="no_text")
    vector = (await _embed(embedder, [prepared.text]))[0]
    matches = await _matches(session, item_id, kind, prepared, vector, readable_by, settings, embedder)
    if record:
        assert item_id is not None
        await _save(session, item_id, kind, owner_id, prepared, vector, embedder.name)
        await _record_links(session, item_id, kind, matches)
    linked = [m for m in matches if m.decision == "linked"]
    decision: CheckDecision = (
        "linked" if linked else "suggested" if any(m.decision == "suggested" for m in matches) else "none"
    )
    log.info("dedup.checked", item_id=str(item_id), kind=kind, decision=decision, candidates=len(matches))
    return DuplicateCheck(
        item_id,
        kind,
        decision,
        linked[0].item_id if linked else None,
        embedder.name,
        indexed=record,
        matches=[m for m in matches if m.decision != "none"],
    )


async def _check_owner(session: AsyncSession, item_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    row = await repository.get_embedding(session, item_id)
    if row is not None and row.owner_id != owner_id:
        raise ItemNotIndexed(detail={"item_id": str(item_id)})  # someone else's: not revealed


async def _matches(
    session: AsyncSession,
    item_id: uuid.UUID | None,
    kind: str,
    prepared: PreparedText,
    vector: np.ndarray,
    readable_by: uuid.UUID | None,
    settings: DedupSettings,
    embedder: Embedder,
) -> list[Match]:
    exclude = [item_id] if item_id is not None else []
    common = {"model": embedder.name, "kind": kind, "owner_id": readable_by}
    near = await repository.nearest(session, vector, k=settings.candidates, exclude=exclude, **common)
    same = await repository.same_text(session, prepared.text_hash, exclude=item_id or uuid.UUID(int=0), **common)
    exact = {n.item_id for n in same}
    candidates = {n.item_id: n for n in near} | {n.item_id: n for n in same}
    links = await repository.links_of(session, item_id, candidates) if item_id is not None else {}
    matches = []
    for other in candidates.values():
        score, decision = decide(
            other.similarity,
            same_script=other.script == prepared.script,
            exact=other.item_id in exact,
            settings=settings,
        )
        link = links.get(other.item_id)
        decided_by = link.decided_by if link is not None else None
        if link is not None and decided_by is not None:
            decision = link.status  # type: ignore[assignment]
        similarity = 1.0 if other.item_id in exact else other.similarity
        matches.append(Match(other.item_id, other.kind, similarity, score, decision, decided_by, other.excerpt))
    return sorted(matches, key=lambda m: (-m.score, str(m.item_id)))


async def _record_links(session: AsyncSession, item_id: uuid.UUID, kind: str, matches: list[Match]) -> None:
    automatic = [m for m in matches if m.decided_by is None and m.decision in ("linked", "suggested")]
    for match in automatic:
        await repository.save_system_link(
            session, item_id, match.item_id, kind=kind, similarity=match.similarity, status=match.decision
        )
    await repository.drop_stale_system_links(session, item_id, keep=[m.item_id for m in automatic])
    await session.flush()


async def unlinked_for_owner(
    session: AsyncSession, owner_id: uuid.UUID, item_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Of `item_ids`, those a person unlinked from one of `owner_id`'s items: never link that owner there again."""
    return await repository.unlinked_for_owner(session, owner_id, item_ids)


async def unlink(session: AsyncSession, item_id: uuid.UUID, other_id: uuid.UUID, by: uuid.UUID) -> DedupLink:
    """A person says the two items are not duplicates; no later check links (or suggests) them again."""
    return await _decide_pair(session, item_id, other_id, by, "unlinked")


async def _decide_pair(
    session: AsyncSession, item_id: uuid.UUID, other_id: uuid.UUID, by: uuid.UUID, status: str
) -> DedupLink:
    if item_id == other_id:
        raise BadRequest("An item cannot be paired with itself", detail={"item_id": str(item_id)})
    rows = {row.item_id: row for row in await repository.embeddings_of(session, {item_id, other_id})}
    missing = [str(i) for i in (item_id, other_id) if i not in rows]
    if missing:
        raise ItemNotIndexed(detail={"item_ids": missing})
    link = await repository.save_decision(session, item_id, other_id, kind=rows[item_id].kind, status=status, by=by)
    await audit.record(
        session, f"dedup.{status}", "dedup_link", link.id, actor_id=by, item_id=str(item_id), other_id=str(other_id)
    )
    return link

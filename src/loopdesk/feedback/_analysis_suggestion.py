"""The seed's suggestion path of a log analysis: how many distinct users and sessions hit the area in the logs,
the similar open suggestions the de-duplication index holds, and a value / effort score with its reasons."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback._analysis_reads import SESSION_KEYS, USER_KEYS, AreaUsage, area_usage, open_suggestions
from loopdesk.feedback.models import Task
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import EmbedderUnavailable
from loopdesk.triage.store.fields import ERROR_SEVERITY
from loopdesk.triage.store.schemas import RelatedLogRead

log = structlog.get_logger("loopdesk.feedback.analysis")


@dataclass(frozen=True, slots=True)
class SimilarSuggestion:
    task_id: uuid.UUID
    task_number: str
    score: float


@dataclass(frozen=True, slots=True)
class ValueEffort:
    value: float  # 1..5
    effort: float  # 1..5
    score: float  # value / effort
    verdict: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SuggestionEvidence:
    records: int
    errors: int
    users: int
    sessions: int
    source: str  # "module logs" or "related logs"
    similar: tuple[SimilarSuggestion, ...] | None  # None: the embedding model was unavailable
    reporters: int
    value_effort: ValueEffort


async def suggestion_evidence(
    session: AsyncSession,
    task: Task,
    modules: list[str],
    found: Sequence[RelatedLogRead],
    start: datetime,
    end: datetime,
    dedup_settings: DedupSettings,
) -> SuggestionEvidence:
    if modules:
        usage, source = await area_usage(session, modules, start, end), "module logs"
    else:
        usage, source = _usage_of(found), "related logs"
    similar = await _similar(session, task, dedup_settings)
    reporters = max(task.reporter_count or 1, 1)
    score = value_effort(
        users=usage.users,
        reporters=reporters,
        similar=len(similar or ()),
        error_share=usage.errors / usage.records if usage.records else 0.0,
        modules=len(modules),
    )
    return SuggestionEvidence(
        records=usage.records,
        errors=usage.errors,
        users=usage.users,
        sessions=usage.sessions,
        source=source,
        similar=similar,
        reporters=reporters,
        value_effort=score,
    )


def _usage_of(found: Sequence[RelatedLogRead]) -> AreaUsage:
    def distinct(keys: Sequence[str]) -> int:
        values = {next((str(r.attributes[k]) for k in keys if r.attributes.get(k) is not None), None) for r in found}
        return len(values - {None})

    errors = sum(1 for record in found if record.severity >= ERROR_SEVERITY)
    return AreaUsage(records=len(found), errors=errors, users=distinct(USER_KEYS), sessions=distinct(SESSION_KEYS))


async def _similar(
    session: AsyncSession, task: Task, dedup_settings: DedupSettings
) -> tuple[SimilarSuggestion, ...] | None:
    """Open suggestions the de-duplication index finds near this one (a pair a person unlinked stays apart)."""
    from loopdesk.feedback.service import DEDUP_KIND

    try:
        embedder = await dedup.load_embedder(dedup_settings)
    except EmbedderUnavailable:
        log.warning("feedback.analysis.no_embedder", task_id=str(task.id))
        return None
    check = await dedup.check_duplicates(
        session,
        task.id,
        f"{task.title}\n{task.description}",
        DEDUP_KIND,
        record=False,
        settings=dedup_settings,
        embedder=embedder,
    )
    near = [match for match in check.matches if match.decision in ("linked", "suggested")]
    numbers = await open_suggestions(session, [match.item_id for match in near])
    return tuple(
        SimilarSuggestion(match.item_id, numbers[match.item_id], round(match.score, 4))
        for match in near
        if match.item_id in numbers
    )


def value_effort(*, users: int, reporters: int, similar: int, error_share: float, modules: int) -> ValueEffort:
    """Value from demand (users who hit the area, people who asked for it) and friction (errors in the area);
    effort from the breadth of the change (modules it touches, or an area still to be found)."""
    reasons = []
    reach = min(2.0, math.log10(1 + users))
    reasons.append(f"{users} distinct users used the area in the window (+{reach:.1f} value)")
    asked = reporters - 1 + similar
    demand = min(1.5, 0.5 * asked)
    reasons.append(f"{reporters - 1} further reporters and {similar} similar open suggestions (+{demand:.1f} value)")
    friction = 0.5 if error_share >= 0.05 else 0.0
    if friction:
        reasons.append(f"{error_share:.0%} of the area's records are errors: the change may remove friction (+0.5)")
    value = round(min(5.0, 1.0 + reach + demand + friction), 1)
    if modules:
        effort = round(min(5.0, 1.0 + 0.75 * (modules - 1)), 1)
        reasons.append(f"touches {modules} module{'s' if modules > 1 else ''} (effort {effort})")
    else:
        effort = 3.0
        reasons.append("no module identified: the area must be found first (effort 3.0)")
    quick = effort <= 2.0
    if value >= 3.0:
        verdict = "a quick win: plan it soon" if quick else "worth a planned project"
    else:
        verdict = "a fill-in when there is room" if quick else "reconsider: little evidence of demand for its cost"
    return ValueEffort(value, effort, round(value / effort, 2), verdict, tuple(reasons))

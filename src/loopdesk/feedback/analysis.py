"""Log analysis of a feedback task (the `analyzed` stage): the evidence the log store holds about a report, and a
root-cause hypothesis drawn from it.

The window runs from the report's time minus the configured lookback to one hour after it. The report's words
give keywords and modules (modules the log store knows by name, the operator's keyword → module map, and those the
reporter gave); `related_logs` finds the records, the store's anomaly finder scans each module's error rate and
latency, and the template miner groups the records. The hypothesis and recommendation are written by the configured
model from that evidence, or by rules, which say so; the confidence score weighs the evidence alone, whoever wrote
them. Suggestions also get the seed's suggestion path: users and sessions that hit the area, similar open
suggestions, and a value / effort score. Nothing here writes: the caller stores `as_log_analysis()`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback._analysis_reads import LogNames, log_names
from loopdesk.feedback._analysis_suggestion import SuggestionEvidence, suggestion_evidence
from loopdesk.feedback._analysis_text import (
    collapse,
    keywords,
    mapped_modules,
    named_modules,
    report_text,
    trace_ids,
)
from loopdesk.feedback._analysis_writing import Writing, write
from loopdesk.feedback.models import Task
from loopdesk.triage.anomalies import Anomaly
from loopdesk.triage.logs import TemplateMiner, mine
from loopdesk.triage.store.fields import ERROR_SEVERITY
from loopdesk.triage.store.schemas import LogQuery, RelatedLogRead
from loopdesk.triage.store.series import find_anomalies
from loopdesk.triage.store.service import MAX_RELATED, LogService, related_logs

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from loopdesk.core.settings import Settings

log = structlog.get_logger("loopdesk.feedback.analysis")

AFTER_REPORT = timedelta(hours=1)
MIN_STEP = timedelta(minutes=5)  # anomaly intervals: 5 minutes, wider only for lookbacks past ~7 days
MAX_INTERVALS = 2000
MAX_SAMPLES = 10
MAX_PATTERNS = 10
MAX_ANOMALY_MODULES = 5
MAX_ANOMALIES = 10
_TEMPLATE_INPUT = 1000  # as the store's writer: a message's first line, this long, decides its template
_SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}

Search = Literal["trace", "keywords", "modules", "keywords_and_modules", "none"]


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    lookback_hours: float


@dataclass(frozen=True, slots=True)
class SampleLog:
    time: datetime
    level: str
    module: str | None
    message: str
    trace_id: str | None


@dataclass(frozen=True, slots=True)
class LogPattern:
    template: str
    count: int
    errors: int
    modules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnomalyPattern:
    module: str
    metric: str
    start: datetime
    end: datetime
    value: float | None
    threshold: float | None
    severity: str
    detector: str
    score: float | None
    count: int
    errors: int  # error records of the module in the interval
    dominant_error: str | None  # their most frequent template
    dominant_error_count: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the logs say about a report, before anyone writes a hypothesis from it."""

    window: Window
    keywords: tuple[str, ...]
    modules: tuple[str, ...]
    reported_modules: tuple[str, ...]
    named_modules: tuple[str, ...]
    mapped_modules: tuple[str, ...]
    trace_ids: tuple[str, ...]
    search: Search
    related_logs_count: int
    related_logs_capped: bool
    keyword_hits: int  # related records holding a keyword
    trace_hits: int  # related records on a quoted trace
    sample_logs: tuple[SampleLog, ...]
    log_patterns: tuple[LogPattern, ...]
    anomaly_patterns: tuple[AnomalyPattern, ...]
    suggestion: SuggestionEvidence | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["window"] = {**data["window"], "start": self.window.start.isoformat(), "end": self.window.end.isoformat()}
        data["module_sources"] = {
            "reported": data.pop("reported_modules"),
            "named": data.pop("named_modules"),
            "keyword_map": data.pop("mapped_modules"),
        }
        for sample in data["sample_logs"]:
            sample["time"] = sample["time"].isoformat()
        for anomaly in data["anomaly_patterns"]:
            anomaly["start"], anomaly["end"] = anomaly["start"].isoformat(), anomaly["end"].isoformat()
        suggestion = data.pop("suggestion")
        if suggestion is not None:
            data["users_affected"] = {k: suggestion[k] for k in ("users", "sessions", "records", "errors", "source")}
            similar = suggestion["similar"]
            data["similar_suggestions"] = {
                "count": None if similar is None else len(similar),
                "tasks": [{**s, "task_id": str(s["task_id"])} for s in similar or ()],
            }
            data["value_effort"] = suggestion["value_effort"]
        return _lists(data)


@dataclass(frozen=True, slots=True)
class Analysis:
    evidence: Evidence
    root_cause_hypothesis: str
    recommendation: str
    confidence_score: float
    method: Literal["rules", "llm"]
    model: str | None
    model_error: str | None
    analyzed_at: datetime

    def as_log_analysis(self) -> dict[str, Any]:
        """The JSON document kept in `tasks.log_analysis`."""
        return {
            **self.evidence.as_dict(),
            "root_cause_hypothesis": self.root_cause_hypothesis,
            "recommendation": self.recommendation,
            "confidence_score": self.confidence_score,
            "method": self.method,
            "model": self.model,
            "model_error": self.model_error,
            "analyzed_at": self.analyzed_at.isoformat(),
        }


def _lists(value: Any) -> Any:
    """Tuples as lists and non-finite floats as None, all the way down: what JSONB takes."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def analyze_task(
    session: AsyncSession, task: Task, *, now: datetime, settings: Settings, model: BaseChatModel | None = None
) -> Analysis:
    """Analyse `task` against the log store. `model` overrides LOOPDESK_FEEDBACK_ANALYSIS_MODEL (tests)."""
    evidence = await gather_evidence(session, task, now=now, settings=settings)
    writing: Writing = await write(task, evidence, settings=settings, model=model)
    analysis = Analysis(
        evidence=evidence,
        root_cause_hypothesis=writing.hypothesis,
        recommendation=writing.recommendation,
        confidence_score=confidence(evidence),
        method=writing.method,
        model=writing.model,
        model_error=writing.error,
        analyzed_at=now,
    )
    log.info(
        "feedback.analysis.done",
        task_id=str(task.id),
        method=analysis.method,
        modules=list(evidence.modules),
        related=evidence.related_logs_count,
        anomalies=len(evidence.anomaly_patterns),
        confidence=analysis.confidence_score,
    )
    return analysis


async def gather_evidence(session: AsyncSession, task: Task, *, now: datetime, settings: Settings) -> Evidence:
    config = settings.feedback
    reported_at = task.created_at or now
    lookback = config.feedback_analysis_lookback_hours
    window = Window(reported_at - timedelta(hours=lookback), reported_at + AFTER_REPORT, lookback)
    text = report_text(task.title, task.description)
    names = await log_names(session, window.start, window.end)
    mapped, _ = mapped_modules(text, config.feedback_module_keywords)
    named = named_modules(text, names.modules | names.services)
    reported = collapse(task.affected_modules or ())
    modules = collapse([*reported, *mapped, *named])
    words = keywords(text)
    traces = trace_ids(text)
    found, search = await _related(session, words, modules, window, traces[0] if traces else None)
    anomalies = await _anomalies(session, modules, names, window)
    suggestion = None
    if task.issue_type == "suggestion":
        suggestion = await suggestion_evidence(session, task, modules, found, window.start, window.end, settings.dedup)
    return Evidence(
        window=window,
        keywords=tuple(words),
        modules=tuple(modules),
        reported_modules=tuple(reported),
        named_modules=tuple(named),
        mapped_modules=tuple(mapped),
        trace_ids=tuple(traces),
        search=search,
        related_logs_count=len(found),
        related_logs_capped=len(found) >= MAX_RELATED,
        keyword_hits=sum(1 for record in found if record.keyword_hits),
        trace_hits=sum(1 for record in found if record.trace_match),
        sample_logs=_samples(found),
        log_patterns=_patterns(found),
        anomaly_patterns=anomalies,
        suggestion=suggestion,
    )


async def _related(
    session: AsyncSession, words: list[str], modules: list[str], window: Window, trace: str | None
) -> tuple[list[RelatedLogRead], Search]:
    if not (words or modules or trace):
        return [], "none"  # `related_logs` with no condition would return every record of the window
    span = (window.start, window.end)
    found = await related_logs(
        session, keywords=words, modules=modules, time_range=span, trace_id=trace, limit=MAX_RELATED
    )
    if modules and words and not any(record.keyword_hits for record in found):
        # The report's words are not the logs' words (a Chinese report, English logs): the modules decide.
        found = await related_logs(session, modules=modules, time_range=span, trace_id=trace, limit=MAX_RELATED)
        return found, "modules"
    if words and modules:
        return found, "keywords_and_modules"
    if words:
        return found, "keywords"
    return found, "modules" if modules else "trace"


def _samples(found: Sequence[RelatedLogRead]) -> tuple[SampleLog, ...]:
    """Up to ten, in `related_logs`' order (trace, keywords held, newest) with errors and worse first."""
    ordered = sorted(found, key=lambda record: record.severity < ERROR_SEVERITY)  # stable: keeps the ranking
    return tuple(
        SampleLog(r.ts, r.level, r.module or r.service, r.message[:_TEMPLATE_INPUT], r.trace_id)
        for r in ordered[:MAX_SAMPLES]
    )


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0][:_TEMPLATE_INPUT]


def _patterns(found: Sequence[RelatedLogRead]) -> tuple[LogPattern, ...]:
    """Templates of the related records (mined afresh over them), most frequent first."""
    templates = mine([_first_line(record.message) for record in found], TemplateMiner())
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    modules: dict[str, dict[str, None]] = {}
    for template, record in zip(templates, found, strict=True):
        counts[template] += 1
        errors[template] += record.severity >= ERROR_SEVERITY
        modules.setdefault(template, {})[record.module or record.service or ""] = None
    ranked = sorted(counts, key=lambda t: (-counts[t], -errors[t], t))[:MAX_PATTERNS]
    return tuple(LogPattern(t, counts[t], errors[t], tuple(m for m in modules[t] if m)) for t in ranked)


def _step(window: Window) -> timedelta:
    return max(MIN_STEP, (window.end - window.start) / MAX_INTERVALS)


def _scope(name: str, names: LogNames) -> dict[str, str] | None:
    """How the anomaly finder is pointed at a name: as a module (or parent of modules), else as a service."""
    if any(module == name or module.startswith(name + ".") for module in names.modules):
        return {"module": name}
    if name in names.services:
        return {"service": name}
    return None  # no records in the window


async def _anomalies(
    session: AsyncSession, modules: Sequence[str], names: LogNames, window: Window
) -> tuple[AnomalyPattern, ...]:
    found: list[tuple[str, dict[str, str], Anomaly]] = []
    step = _step(window)
    for name in modules[:MAX_ANOMALY_MODULES]:
        scope = _scope(name, names)
        if scope is None:
            continue
        _, anomalies = await find_anomalies(session, start=window.start, end=window.end, step=step, **scope)
        found += [(name, scope, anomaly) for anomaly in merge_runs(anomalies)]
    strongest = sorted(
        found, key=lambda item: (-_SEVERITY_RANK.get(item[2].severity, 0), -(item[2].score or 0.0), item[2].start)
    )[:MAX_ANOMALIES]
    return tuple([await describe_incident(session, name, scope, anomaly) for name, scope, anomaly in strongest])


def merge_runs(anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    """Anomalies of one metric in consecutive intervals as one: an incident of ten minutes is one finding, at its
    worst value, severity and score, not two five-minute ones."""
    merged: list[Anomaly] = []
    for anomaly in sorted(anomalies, key=lambda a: (a.metric, a.start)):
        last = merged[-1] if merged else None
        if last is None or last.metric != anomaly.metric or anomaly.start > last.end:
            merged.append(anomaly)
            continue
        merged[-1] = replace(
            last,
            end=max(last.end, anomaly.end),
            value=max(last.value, anomaly.value),
            severity=max(last.severity, anomaly.severity, key=lambda s: _SEVERITY_RANK.get(s, 0)),
            score=max(last.score, anomaly.score) if last.score is not None and anomaly.score is not None else None,
            count=last.count + anomaly.count,
        )
    return merged


async def describe_incident(
    session: AsyncSession, name: str, scope: dict[str, str], anomaly: Anomaly
) -> AnomalyPattern:
    """The anomaly with the module's errors in its interval and their dominant template."""
    query = LogQuery(start=anomaly.start, end=anomaly.end, min_level="error", limit=1000, **scope)
    rows, total = await LogService(session).list(query)
    top: tuple[str, int] | None = None
    if rows:
        top = Counter(mine([_first_line(row.message) for row in rows], TemplateMiner())).most_common(1)[0]
    return AnomalyPattern(
        module=name,
        metric=anomaly.metric,
        start=anomaly.start,
        end=anomaly.end,
        value=_finite(anomaly.value),
        threshold=_finite(anomaly.threshold),
        severity=anomaly.severity,
        detector=anomaly.detector,
        score=_finite(anomaly.score),
        count=anomaly.count,
        errors=total,
        dominant_error=top[0] if top else None,
        dominant_error_count=top[1] if top else 0,
    )


def _finite(value: float | None) -> float | None:
    return round(float(value), 6) if value is not None and math.isfinite(value) else None


# -- confidence --------------------------------------------------------------------------------------------------


def confidence(evidence: Evidence) -> float:
    """0..1 from how strong the evidence is, whoever writes the hypothesis: modules identified, related records,
    records on a quoted trace, an anomaly (by severity) and how clearly one error dominates it."""
    score = 0.1 if evidence.modules else 0.0
    score += 0.25 * min(1.0, evidence.related_logs_count / 50)
    score += 0.1 if evidence.keyword_hits else 0.0
    score += 0.15 if evidence.trace_hits else 0.0
    if evidence.anomaly_patterns:
        top = evidence.anomaly_patterns[0]
        score += {"high": 0.3, "medium": 0.22, "low": 0.15}.get(top.severity, 0.0)
        if top.errors:
            score += 0.2 * top.dominant_error_count / top.errors
    elif errors := sum(p.errors for p in evidence.log_patterns):
        score += 0.1 * max(p.errors for p in evidence.log_patterns) / errors
    if evidence.suggestion is not None:
        score += 0.1 * min(1.0, evidence.suggestion.users / 20) + (0.1 if evidence.suggestion.similar else 0.0)
    return round(min(1.0, score), 2)

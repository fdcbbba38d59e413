"""Automatic intake (`source_channel: auto`): a periodic job scans each module's error rate in the log store over
the last hours (`find_anomalies`, runs of intervals merged into one incident) and turns each new high-severity
error-rate incident into a task, reported by the system account, or into an entry on the open auto task of the
same module.

An incident is an `incident` entry on the timeline of the task it opened or joined: module, metric and time range
(append-only, so the workflow's analysis cannot overwrite it). An incident whose range meets a recorded one of
the same module and metric is the same incident (the window slides, so its first interval may move), and never
opens a second task, open or closed. Each module is handled in one transaction under an advisory lock: runs at
the same moment (two workers) find what the first recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.feedback._analysis_reads import log_names
from loopdesk.feedback._analysis_text import collapse
from loopdesk.feedback.analysis import MIN_STEP, AnomalyPattern, describe_incident, merge_runs
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.schemas import FeedbackCreate
from loopdesk.feedback.service import FeedbackService
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.dedup.embeddings import Embedder, EmbedderUnavailable
from loopdesk.triage.store.series import find_anomalies
from loopdesk.users.models import SYSTEM_USER_ID, User

log = structlog.get_logger("loopdesk.feedback.auto_intake")

TASK_NAME = "loopdesk.feedback_auto_intake"

MAX_MODULES = 200


@dataclass(slots=True)
class AutoIntakeReport:
    modules: int = 0
    opened: list[str] = field(default_factory=list)  # task numbers
    joined: list[str] = field(default_factory=list)
    known: int = 0  # incidents already on a task


def incident_title(incident: AnomalyPattern) -> str:
    return f"Error-rate spike in {incident.module}: {_percent(incident.value)} of requests failing"


def incident_description(incident: AnomalyPattern) -> str:
    lines = [
        "Opened automatically from the log store's anomaly detection.",
        f"Module: {incident.module}",
        f"Window: {incident.start.isoformat()} – {incident.end.isoformat()}",
        f"Error rate: {_percent(incident.value)} (threshold {_percent(incident.threshold)}; "
        f"{incident.detector}, score {incident.score if incident.score is not None else 'n/a'})",
        f"Error records in the window: {incident.errors}",
    ]
    if incident.dominant_error:
        lines.append(
            f"Dominant error: {incident.dominant_error} ({incident.dominant_error_count} of {incident.errors})"
        )
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _incident_data(incident: AnomalyPattern) -> dict[str, object]:
    return {
        "module": incident.module,
        "metric": incident.metric,
        "start": incident.start.isoformat(),
        "end": incident.end.isoformat(),
        "error_rate": incident.value,
        "threshold": incident.threshold,
        "severity": incident.severity,
        "detector": incident.detector,
        "score": incident.score,
        "errors": incident.errors,
        "dominant_error": incident.dominant_error,
        "dominant_error_count": incident.dominant_error_count,
        "key": f"{incident.module}:{incident.metric}:{incident.start.isoformat()}",
    }


async def run_auto_intake(
    database: Database,
    *,
    settings: Settings,
    graphs: GraphRegistry | None,
    now: datetime | None = None,
    embedder: Embedder | None = None,
) -> AutoIntakeReport:
    """Scan the last `feedback_auto_intake_lookback_hours` (up to `now`) and open or join tasks."""
    now = now or datetime.now(UTC)
    end = datetime.fromtimestamp(now.timestamp() // MIN_STEP.total_seconds() * MIN_STEP.total_seconds(), UTC)
    start = end - timedelta(hours=settings.feedback.feedback_auto_intake_lookback_hours)
    report = AutoIntakeReport()
    loaded = embedder is not None  # the model loads on the first incident, not on every quiet pass
    async with database.sessionmaker() as session:
        names = await log_names(session, start, end)
    modules = collapse(sorted(names.modules))[:MAX_MODULES]
    report.modules = len(modules)
    for module in modules:
        async with database.sessionmaker() as session, session.begin():
            _, found = await find_anomalies(session, start=start, end=end, step=MIN_STEP, module=module)
            incidents = [a for a in merge_runs(found) if a.metric == "error_rate" and a.severity == "high"]
            if not incidents:
                continue
            if not loaded:
                loaded = True
                try:
                    embedder = await dedup.load_embedder(settings.dedup, allow_fallback=not settings.is_production)
                except EmbedderUnavailable:
                    log.warning("feedback.auto_intake.dedup_unavailable")
            repository = TaskRepository(session)
            await repository.lock_module_incidents(module)
            feedback = FeedbackService(session, embedder=embedder, dedup_settings=settings.dedup, graphs=graphs)
            for anomaly in incidents:
                if await repository.recorded_incident(module, anomaly.metric, anomaly.start, anomaly.end):
                    report.known += 1
                    continue
                incident = await describe_incident(session, module, {"module": module}, anomaly)
                await _open_or_join(session, feedback, repository, incident, report)
    # Quiet when nothing happened: an idle server prints nothing after its banner.
    (log.info if report.opened or report.joined else log.debug)(
        "feedback.auto_intake.done",
        modules=report.modules,
        opened=len(report.opened),
        joined=len(report.joined),
        known=report.known,
    )
    return report


async def _open_or_join(
    session: AsyncSession,
    feedback: FeedbackService,
    repository: TaskRepository,
    incident: AnomalyPattern,
    report: AutoIntakeReport,
) -> None:
    data = _incident_data(incident)
    task = await repository.open_auto_task(incident.module)
    if task is not None:
        await repository.add_event(
            task.id, "incident", to_value=str(data["key"]), reason="a new incident of the same module joined", data=data
        )
        report.joined.append(task.task_number)
        log.info("feedback.auto_intake.joined", task_id=str(task.id), module=incident.module)
        return
    system = await session.get(User, SYSTEM_USER_ID)
    if system is None:
        raise RuntimeError("the system account is missing: run the migrations")
    body = FeedbackCreate(
        title=incident_title(incident),
        description=incident_description(incident),
        source_channel="auto",
        affected_modules=[incident.module],
    )
    task = (await feedback.intake(system, body, client_ip=None, issue_type="bug", join_duplicates=False)).task
    await repository.add_event(
        task.id, "incident", to_value=str(data["key"]), reason="opened by anomaly detection", data=data
    )
    report.opened.append(task.task_number)
    log.info("feedback.auto_intake.opened", task_id=str(task.id), module=incident.module)


def schedule(seconds: int) -> str:
    """The cron of an interval the settings accept (a divisor of a minute, an hour or a day)."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    if seconds < 3600:
        return f"*/{seconds // 60} * * * *"
    return f"0 */{seconds // 3600} * * *"

"""Domain state as Prometheus gauges: what lives in the database (sessions, runs in flight and the queue, pending
approvals, open tasks and their SLA, pending deliveries) and the app engine's connection pool.

/metrics is an async handler around the synchronous `generate_latest`, so a collector cannot await the database at
scrape time. Instead `StateGauges` refreshes the gauges from a background task of the API's lifespan: one query
per family every `interval` seconds, each in its own transaction under a short `statement_timeout`, on one pooled
connection. A scrape reads memory only, so a scrape storm costs the database nothing; a family whose query fails
keeps its last values, counts the failure and shows its age in `loopdesk_state_refreshed_timestamp_seconds`.
These are read-only aggregates of tables their domains own, kept here so one module holds the metrics' query
budget; every query filters on an indexed column and returns at most one row per label value.

Which process exports what (each process has its own registry; only API processes serve /metrics):
- Every API process: HTTP, WebSocket (its own connections: sum them), approval decisions made over REST or the
  WebSocket (count, time to decide), its engine's pool, and these database gauges. Every API process reads the same
  database, so with several of them aggregate these gauges with max(), never sum().
- The queue worker (inside `serve` with LOOPDESK_WORKER_PROCESS=false, else a child process or `loopdesk worker`):
  runs finished and their duration, model calls of runs (count, latency, errors, tokens, cost), notification sends,
  approval expiries, webhooks. `serve`'s worker child answers its parent's /metrics (its samples labelled
  `process="worker"`); a separate `loopdesk worker` serves them on LOOPDESK_WORKER_METRICS_PORT (system.worker_metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loopdesk.core.db import Database
from loopdesk.feedback.models import FINAL_STAGES, STAGES, Task
from loopdesk.notifications.models import DELIVERY_KINDS, NotificationDelivery
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import INFLIGHT
from loopdesk.runtime.threads.models import Thread
from loopdesk.sessions.models import UserSession
from loopdesk.tools.models import Approval

log = structlog.get_logger("loopdesk.metrics")

REFRESH_SECONDS = 15.0  # Prometheus' default scrape interval: a scrape sees values at most one interval old
QUERY_TIMEOUT_MS = 2000
ACTIVE_SESSION_MINUTES = 15
OPEN_STAGES = tuple(stage for stage in STAGES if stage not in FINAL_STAGES)
SESSION_STATUSES = ("running", "interrupted", "idle")
_MINUTE = literal_column("interval '1 minute'")

SESSIONS_ACTIVE = Gauge(
    "loopdesk_sessions_active",
    f"Chat sessions with a run in progress or activity in the last {ACTIVE_SESSION_MINUTES} minutes and not"
    " expired, by status",
    ["status"],
)
RUNS_INFLIGHT = Gauge("loopdesk_runs_inflight", "Runs not yet finished, by status (pending, running)", ["status"])
RUN_QUEUE_DEPTH = Gauge("loopdesk_run_queue_depth", "Pending runs: queued for a worker or behind their thread's run")
RUN_QUEUE_OLDEST = Gauge("loopdesk_run_queue_oldest_age_seconds", "Age of the oldest pending run (0: none)")
APPROVALS_PENDING = Gauge("loopdesk_approvals_pending", "Tool calls waiting for a person's decision")
APPROVALS_OVERDUE = Gauge(
    "loopdesk_approvals_pending_overdue", "Pending approvals past their expiry that the expiry sweep has yet to close"
)
APPROVALS_OLDEST = Gauge(
    "loopdesk_approvals_pending_oldest_age_seconds", "Age of the oldest pending approval (0: none)"
)
TASKS_OPEN = Gauge("loopdesk_tasks_open", "Open feedback tasks (not closed, rejected or archived), by stage", ["stage"])
TASKS_AT_RISK = Gauge(
    "loopdesk_tasks_sla_at_risk",
    "Open tasks the SLA job warned about (most of the stage's time used) that are not yet past a due, by stage",
    ["stage"],
)
TASKS_BREACHED = Gauge(
    "loopdesk_tasks_sla_breached",
    "Open tasks past a due: escalated by the SLA job or past their resolution deadline, by stage",
    ["stage"],
)
DELIVERIES_PENDING = Gauge(
    "loopdesk_notification_deliveries_pending", "Notification deliveries waiting to be sent, by kind", ["kind"]
)
REFRESHED = Gauge(
    "loopdesk_state_refreshed_timestamp_seconds",
    "When a family of database gauges was last read (Unix time)",
    ["family"],
)
REFRESH_ERRORS = Counter(
    "loopdesk_state_refresh_errors_total",
    "Failed reads of a family of database gauges (it keeps its values)",
    ["family"],
)


def _set_all(gauge: Gauge, labels: Iterable[str], found: dict[str, float]) -> None:
    """Every known label value, 0 when the query found none: a series never goes stale at its last count."""
    for label in labels:
        gauge.labels(label).set(found.get(label, 0))


async def _sessions(conn: AsyncConnection) -> None:
    status = case((Thread.status == "busy", "running"), (Thread.status == "interrupted", "interrupted"), else_="idle")
    recent = Thread.updated_at > func.now() - ACTIVE_SESSION_MINUTES * _MINUTE
    # The sessions' expiry rule (sessions/expiry.py) in SQL: a running session never expires.
    expires = func.greatest(UserSession.last_activity_at, Thread.updated_at) + UserSession.ttl_minutes * _MINUTE
    alive = or_(UserSession.ttl_minutes.is_(None), expires > func.now())
    statement = (
        select(status, func.count())
        .select_from(UserSession)
        .join(Thread, Thread.thread_id == UserSession.session_id)
        .where(or_(Thread.status == "busy", and_(recent, alive)))
        .group_by(status)
    )
    rows = (await conn.execute(statement)).all()
    _set_all(SESSIONS_ACTIVE, SESSION_STATUSES, {row[0]: row[1] for row in rows})


def _age(oldest: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds since `oldest` on the database's clock (0 when there is none)."""
    return func.coalesce(func.extract("epoch", func.now() - oldest), 0)


async def _runs(conn: AsyncConnection) -> None:
    statement = (
        select(Run.status, func.count(), _age(func.min(Run.created_at)))
        .where(Run.status.in_(INFLIGHT))
        .group_by(Run.status)
    )
    rows = {row[0]: (row[1], float(row[2])) for row in (await conn.execute(statement)).all()}
    _set_all(RUNS_INFLIGHT, INFLIGHT, {status: count for status, (count, _) in rows.items()})
    depth, oldest = rows.get("pending", (0, 0.0))
    RUN_QUEUE_DEPTH.set(depth)
    RUN_QUEUE_OLDEST.set(oldest)


async def _approvals(conn: AsyncConnection) -> None:
    statement = select(
        func.count(),
        func.count().filter(Approval.expires_at <= func.now()),
        _age(func.min(Approval.created_at)),
    ).where(Approval.status == "pending")
    pending, overdue, oldest = (await conn.execute(statement)).one()
    APPROVALS_PENDING.set(pending)
    APPROVALS_OVERDUE.set(overdue)
    APPROVALS_OLDEST.set(float(oldest))


async def _tasks(conn: AsyncConnection) -> None:
    breached = or_(Task.escalation_level > 0, Task.sla_deadline < func.now())
    within_deadline = or_(Task.sla_deadline.is_(None), Task.sla_deadline >= func.now())  # not NOT(breached): NULLs
    at_risk = and_(Task.sla_warned_at.is_not(None), Task.escalation_level == 0, within_deadline)
    statement = (
        select(Task.workflow_stage, func.count(), func.count().filter(at_risk), func.count().filter(breached))
        .where(Task.workflow_stage.not_in(FINAL_STAGES), Task.archived_at.is_(None))
        .group_by(Task.workflow_stage)
    )
    rows = (await conn.execute(statement)).all()
    _set_all(TASKS_OPEN, OPEN_STAGES, {row[0]: row[1] for row in rows})
    _set_all(TASKS_AT_RISK, OPEN_STAGES, {row[0]: row[2] for row in rows})
    _set_all(TASKS_BREACHED, OPEN_STAGES, {row[0]: row[3] for row in rows})


async def _deliveries(conn: AsyncConnection) -> None:
    statement = (
        select(NotificationDelivery.kind, func.count())
        .where(NotificationDelivery.status == "pending")
        .group_by(NotificationDelivery.kind)
    )
    rows = (await conn.execute(statement)).all()
    _set_all(DELIVERIES_PENDING, DELIVERY_KINDS, {row[0]: row[1] for row in rows})


Family = Callable[[AsyncConnection], Awaitable[None]]
FAMILIES: dict[str, Family] = {
    "sessions": _sessions,
    "runs": _runs,
    "approvals": _approvals,
    "tasks": _tasks,
    "notifications": _deliveries,
}


class PoolCollector(Collector):
    """The app engine's SQLAlchemy pool, read at scrape time (no I/O): connections checked out, and how many more
    may be before a request waits (`free`: pool size + overflow - checked out)."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.capacity = 0

    def attach(self, engine: AsyncEngine, capacity: int) -> None:
        self.engine, self.capacity = engine, capacity

    def detach(self, engine: AsyncEngine) -> None:
        """Forget `engine` unless another app (a test's) attached its own since."""
        if self.engine is engine:
            self.engine, self.capacity = None, 0

    def collect(self) -> Iterable[GaugeMetricFamily]:
        engine, capacity = self.engine, self.capacity
        pool = engine.pool if engine is not None else None
        in_use = pool.checkedout() if pool is not None and hasattr(pool, "checkedout") else 0
        yield GaugeMetricFamily(
            "loopdesk_db_pool_connections_in_use", "Database connections checked out of the app engine's pool", in_use
        )
        yield GaugeMetricFamily(
            "loopdesk_db_pool_connections_free",
            "Database connections the app engine's pool can still hand out before a request waits",
            max(capacity - in_use, 0),
        )
        yield GaugeMetricFamily(
            "loopdesk_db_pool_connections_max", "The app engine's pool size plus its overflow", capacity
        )


POOL = PoolCollector()
REGISTRY.register(POOL)


@dataclass
class StateGauges:
    """The database gauges' refresher and the pool collector's engine, for one API process's lifespan."""

    database: Database
    pool_capacity: int
    interval: float = REFRESH_SECONDS
    timeout_ms: int = QUERY_TIMEOUT_MS
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def refresh(self) -> set[str]:
        """Read every family once; returns the families that failed (their gauges keep their values)."""
        failed: set[str] = set()
        done: set[str] = set()
        try:
            # Bounds a wait for a pooled connection too: the statement timeout only starts once one is held.
            async with asyncio.timeout(self.timeout_ms / 1000 * (len(FAMILIES) + 1)):
                async with self.database.engine.connect() as conn:
                    for name, read in FAMILIES.items():
                        if not await self._read(conn, name, read):
                            failed.add(name)
                        done.add(name)
        except Exception as exc:  # noqa: BLE001 - no connection, or out of time: the gauges keep their values
            log.warning("metrics.state_unavailable", error_type=type(exc).__name__)
            for name in set(FAMILIES) - done:
                REFRESH_ERRORS.labels(name).inc()
                failed.add(name)
        return failed

    async def _read(self, conn: AsyncConnection, name: str, read: Family) -> bool:
        try:
            async with conn.begin():
                await conn.execute(
                    text("SELECT set_config('statement_timeout', :timeout, true)"), {"timeout": str(self.timeout_ms)}
                )
                await read(conn)
        except Exception as exc:  # noqa: BLE001 - one family's failure leaves the others fresh
            log.warning("metrics.state_family_failed", family=name, error_type=type(exc).__name__)
            REFRESH_ERRORS.labels(name).inc()
            return False
        REFRESHED.labels(name).set(time.time())
        return True

    async def start(self) -> None:
        for name in FAMILIES:  # at 0 until first read: a database down since start-up shows as stale too
            REFRESHED.labels(name)
        POOL.attach(self.database.engine, self.pool_capacity)
        self._task = asyncio.create_task(self._run(), name="loopdesk.metrics_state")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        POOL.detach(self.database.engine)

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)

"""Queue workers: the procrastinate app with loopdesk's tasks (execute a run, deliver a webhook) and
periodic sweeps (take up runs of dead workers, delete expired threads). `serve` runs one worker in
its own event loop; `loopdesk worker` runs one as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import httpx
import procrastinate
import structlog

from loopdesk.core.db import Database
from loopdesk.core.metrics import RUNS_RECOVERED, WEBHOOKS
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import Settings
from loopdesk.notifications.jobs import register_jobs as register_notification_jobs
from loopdesk.runtime.crons.service import fire_due_crons
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.queue import OPENAPI_TASK, QUEUE, RUN_TASK, WEBHOOK_TASK
from loopdesk.runtime.runs.events import Publisher
from loopdesk.runtime.runs.executor import INFRASTRUCTURE_ERRORS, MAX_ATTEMPTS, RunExecutor
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import RunRead
from loopdesk.runtime.threads.deletion import delete_threads
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.tools.net import OutboundPolicy, UnsafeDestination, safe_client

log = structlog.get_logger("loopdesk.worker")


class WebhookRetry(Exception):
    """A delivery that may succeed later (network error, 5xx, 429)."""


SWEEP_TASK = "loopdesk.recover_stalled_runs"
TTL_TASK = "loopdesk.sweep_expired_threads"
CRON_TASK = "loopdesk.fire_due_crons"
APPROVAL_EXPIRY_TASK = "loopdesk.expire_approvals"
FEEDBACK_SLA_TASK = "loopdesk.check_feedback_sla"
ARCHIVE_TASK = "loopdesk.archive_feedback_tasks"
SUPPORT_SWEEP_TASK = "loopdesk.close_quiet_conversations"


async def sweep_expired_threads(database: Database, persistence: Persistence) -> int:
    """Threads past their TTL (and not busy) go, like any deleted thread; returns how many."""
    async with database.sessionmaker() as session, session.begin():
        expired = await ThreadRepository(session).expired_ids()
        await delete_threads(session, persistence, expired)
    if expired:
        log.info("worker.threads_expired", count=len(expired))
    return len(expired)


@dataclass
class QueueWorker:
    app: procrastinate.App
    settings: Settings
    task: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        url: str,
        settings: Settings,
        database: Database,
        persistence: Persistence,
        graphs: GraphRegistry,
        publisher: Publisher | None = None,
        limiter: RateLimiter | None = None,
    ):
        """`limiter`: the API's, so that cron runs and the owner's own runs share one count (default: one
        on LOOPDESK_REDIS_URL, shared with every process, else this process's own)."""
        redis_url = settings.redis.redis_url.get_secret_value() if settings.redis.redis_url else None
        limiter = limiter or RateLimiter.from_redis_url(redis_url)
        connector = procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=4)
        app = procrastinate.App(connector=connector)
        executor = RunExecutor(database, persistence, graphs, publisher)
        stall_timeout = settings.runtime.stall_timeout_seconds
        sweep_every = max(1, int(stall_timeout // 2))

        @app.task(
            name=RUN_TASK,
            queue=QUEUE,
            retry=procrastinate.RetryStrategy(
                max_attempts=MAX_ATTEMPTS, wait=1, exponential_wait=2, retry_exceptions=set(INFRASTRUCTURE_ERRORS)
            ),
        )
        async def execute_run(run_id: str) -> None:
            await executor.execute(uuid.UUID(run_id))

        policy = OutboundPolicy.from_allowlist(settings.outbound.allowlist)

        @app.task(
            name=WEBHOOK_TASK,
            queue=QUEUE,
            retry=procrastinate.RetryStrategy(max_attempts=6, exponential_wait=2, retry_exceptions={WebhookRetry}),
        )
        async def deliver_webhook(run_id: str) -> None:
            """POST the finished run (with its output) to the run's webhook. Server errors and network
            failures retry with exponential backoff (2, 4, 8, 16, 32 s); refusals do not."""
            async with database.sessionmaker() as session:
                run = await session.get(Run, uuid.UUID(run_id))
            if run is None or not run.kwargs.get("webhook"):
                return
            payload = {
                **RunRead.model_validate(run).model_dump(mode="json"),
                "values": run.output,
                "error": run.error,
            }
            bound = log.bind(run_id=run_id)
            try:
                timeout = settings.outbound.outbound_timeout_seconds
                async with (
                    safe_client(policy, timeout=timeout, max_response_bytes=64 * 1024) as client,
                    client.stream("POST", run.kwargs["webhook"], json=payload) as response,
                ):
                    pass  # the status is the answer: the receiver's body is never read
            except UnsafeDestination as exc:
                bound.warning("webhook.refused", reason=str(exc))
                WEBHOOKS.labels("refused").inc()
                return
            except httpx.HTTPError as exc:
                bound.warning("webhook.failed", error=type(exc).__name__)
                WEBHOOKS.labels("failed").inc()
                raise WebhookRetry(type(exc).__name__) from None
            if response.status_code >= 500 or response.status_code == 429:
                bound.warning("webhook.failed", status=response.status_code)
                WEBHOOKS.labels("failed").inc()
                raise WebhookRetry(f"HTTP {response.status_code}")
            WEBHOOKS.labels("delivered").inc()
            bound.info("webhook.delivered", status=response.status_code)

        @app.task(name=OPENAPI_TASK, queue=QUEUE)
        async def import_openapi(import_id: str) -> None:
            """Fetch, parse and classify an OpenAPI document for review."""
            from loopdesk.tools.openapi.imports import process_import

            await process_import(database, settings, uuid.UUID(import_id))

        @app.periodic(cron=f"* * * * * */{sweep_every}")
        @app.task(name=SWEEP_TASK, queue=QUEUE)
        async def recover_stalled_runs(timestamp: int) -> None:
            """Runs whose worker stopped sending heartbeats go back to the queue; the next attempt
            continues from the run's last checkpoint."""
            stalled = await app.job_manager.get_stalled_jobs(
                task_name=RUN_TASK, queue=QUEUE, seconds_since_heartbeat=stall_timeout
            )
            for job in stalled:
                await app.job_manager.retry_job(job)
                RUNS_RECOVERED.inc()
                log.warning("worker.run_recovered", job_id=job.id, run_id=job.task_kwargs.get("run_id"))
            await app.job_manager.prune_stalled_workers(stall_timeout)

        @app.periodic(cron="* * * * * */5")
        @app.task(name=CRON_TASK, queue=QUEUE)
        async def fire_crons(timestamp: int) -> None:
            """Scheduled runs that are due (checked every 5 s; cron schedules have minute precision)."""
            await fire_due_crons(database, graphs, limiter=limiter, settings=settings.sessions)

        @app.periodic(cron=f"* * * * * */{settings.tools.approval_sweep_seconds}")
        @app.task(name=APPROVAL_EXPIRY_TASK, queue=QUEUE)
        async def expire_approvals(timestamp: int) -> None:
            """Pending approvals past their expiry: cancelled, and their runs resumed with the cancellation."""
            from loopdesk.tools.approvals.service import expire_due

            await expire_due(database, graphs)

        @app.periodic(cron=settings.feedback_sla.sla_check_cron)
        @app.task(name=FEEDBACK_SLA_TASK, queue=QUEUE)
        async def check_feedback_sla(timestamp: int) -> None:
            """Open feedback tasks near or past their stage's limit: warned once, then escalated level by level."""
            from loopdesk.feedback.sla_job import check_sla

            await check_sla(database, config=settings.feedback_sla)

        @app.periodic(cron="17 * * * *")
        @app.task(name=ARCHIVE_TASK, queue=QUEUE)
        async def archive_finished_tasks(timestamp: int) -> None:
            """Closed and rejected feedback tasks past LOOPDESK_FEEDBACK_ARCHIVE_AFTER_DAYS: archived (hourly)."""
            from loopdesk.feedback.archive import archive_finished

            await archive_finished(database, after_days=settings.feedback.feedback_archive_after_days)

        @app.periodic(cron="* * * * *")
        @app.task(name=SUPPORT_SWEEP_TASK, queue=QUEUE)
        async def close_quiet_conversations(timestamp: int) -> None:
            """Support conversations quiet for LOOPDESK_SUPPORT_QUIET_MINUTES: closed with their resolution."""
            from loopdesk.support.conversations.sweep import close_quiet_conversations as close_quiet

            await close_quiet(database, quiet_minutes=settings.support.support_quiet_minutes)

        if seconds := settings.feedback.feedback_auto_intake_seconds:
            from loopdesk.feedback.auto_intake import TASK_NAME, run_auto_intake, schedule

            @app.periodic(cron=schedule(seconds))
            @app.task(name=TASK_NAME, queue=QUEUE)
            async def feedback_auto_intake(timestamp: int) -> None:
                """New high-severity error-rate incidents in the log store open (or join) `auto` tasks."""
                await run_auto_intake(database, settings=settings, graphs=graphs)

        @app.periodic(cron="* * * * *")
        @app.task(name=TTL_TASK, queue=QUEUE)
        async def sweep_expired_threads_task(timestamp: int) -> None:
            await sweep_expired_threads(database, persistence)

        register_notification_jobs(app, database, settings)
        return cls(app=app, settings=settings)

    def _options(self, *, install_signal_handlers: bool) -> dict:
        stall_timeout = self.settings.runtime.stall_timeout_seconds
        return {
            "queues": [QUEUE],
            "concurrency": self.settings.runtime.worker_concurrency,
            "name": "loopdesk",
            "install_signal_handlers": install_signal_handlers,
            "update_heartbeat_interval": max(0.5, stall_timeout / 4),
            "stalled_worker_timeout": stall_timeout,
            "shutdown_graceful_timeout": 5.0,
            "delete_jobs": "successful",
            # Aborts arrive by NOTIFY at once; the poll only bounds a missed one (a cancelled run stops within 1 s).
            "abort_job_polling_interval": 1.0,
            "fetch_job_polling_interval": 1.0,  # scheduled jobs (retries, after_seconds) start within a second
        }

    async def _supervised(self, *, install_signal_handlers: bool) -> None:
        """Run the worker; if it stops on an error (the database went away), start it again with
        backoff. A normal return (a stop signal) ends the loop."""
        delay = 0.5
        while True:
            try:
                await self.app.run_worker_async(**self._options(install_signal_handlers=install_signal_handlers))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged, then retried: the worker must outlive outages
                log.warning("worker.restarting", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def start(self) -> None:
        """Run a worker inside the current event loop (the `serve` form)."""
        await self.app.open_async()
        self.task = asyncio.create_task(self._supervised(install_signal_handlers=False), name="queue-worker")
        log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        with contextlib.suppress(Exception):
            await self.app.close_async()

    async def run_forever(self) -> None:
        """The `loopdesk worker` form: stops on SIGINT / SIGTERM after handing back unfinished runs."""
        async with self.app.open_async():
            log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)
            await self._supervised(install_signal_handlers=True)

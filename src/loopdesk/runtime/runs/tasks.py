"""The runs domain's queue tasks: executing a run, delivering its webhook, and taking up the runs of
workers that stopped sending heartbeats."""

from __future__ import annotations

import uuid

import httpx
import procrastinate
import sqlalchemy.exc
import structlog
from sqlalchemy import text

from loopdesk.core.db import Database
from loopdesk.core.metrics import RUNS_RECOVERED, WEBHOOKS
from loopdesk.runtime.queue import QUEUE, RUN_TASK, WEBHOOK_TASK, WorkerContext, defer
from loopdesk.runtime.runs.executor import INFRASTRUCTURE_ERRORS, MAX_ATTEMPTS, RunExecutor
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import RunRead
from loopdesk.tools.net import OutboundPolicy, UnsafeDestination, safe_client

log = structlog.get_logger("loopdesk.worker")

SWEEP_TASK = "loopdesk.recover_stalled_runs"


class WebhookRetry(Exception):
    """A delivery that may succeed later (network error, 5xx, 429)."""


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    settings, database = context.settings, context.database
    executor = RunExecutor(database, context.persistence, context.graphs, context.publisher)
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

    @app.periodic(cron=f"* * * * * */{sweep_every}")
    @app.task(name=SWEEP_TASK, queue=QUEUE)
    async def recover_stalled_runs(timestamp: int) -> None:
        """Runs whose worker stopped sending heartbeats go back to the queue; the next attempt
        continues from the run's last checkpoint."""
        await recover_stalled(app, database, stall_timeout)
        await app.job_manager.prune_stalled_workers(stall_timeout)


async def recover_stalled(app: procrastinate.App, database: Database, stall_timeout: float) -> int:
    """Each run job whose worker went silent ends `failed` and a new job takes the run up, in one transaction; returns
    how many. A new row, not the same one retried: the silent worker may be alive (slow), and when its attempt ends
    procrastinate finishes the job it fetched. That must be its own row, never the one the next attempt holds (which
    would then read as done while it runs, and be lost to the next sweep if its worker died too)."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=RUN_TASK, queue=QUEUE, seconds_since_heartbeat=stall_timeout
    )
    recovered = 0
    for job in stalled:
        run_id = job.task_kwargs.get("run_id")
        try:
            async with database.sessionmaker() as session, session.begin():
                await session.execute(text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)"), {"id": job.id})
                new_job = await defer(session, RUN_TASK, {"run_id": run_id}, lock=job.lock, priority=job.priority)
                await session.execute(
                    text("UPDATE runs SET job_id = :new WHERE run_id = CAST(:run_id AS uuid) AND job_id = :old"),
                    {"new": new_job, "run_id": run_id, "old": job.id},
                )
        except sqlalchemy.exc.DBAPIError as exc:  # another worker's sweep took it first (it is no longer `doing`)
            log.info("worker.run_recovery_skipped", job_id=job.id, reason=str(exc.orig)[:200])
            continue
        recovered += 1
        RUNS_RECOVERED.inc()
        log.warning("worker.run_recovered", job_id=job.id, new_job_id=new_job, run_id=run_id)
    return recovered

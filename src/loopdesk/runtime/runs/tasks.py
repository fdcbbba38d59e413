"""The runs domain's queue tasks: executing a run, delivering its webhook, and taking up the runs of
workers that stopped sending heartbeats."""

from __future__ import annotations

import uuid

import httpx
import procrastinate
import structlog

from loopdesk.core.metrics import RUNS_RECOVERED, WEBHOOKS
from loopdesk.runtime.queue import QUEUE, RUN_TASK, WEBHOOK_TASK, WorkerContext
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
        stalled = await app.job_manager.get_stalled_jobs(
            task_name=RUN_TASK, queue=QUEUE, seconds_since_heartbeat=stall_timeout
        )
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
            except procrastinate.exceptions.ConnectorException as exc:  # another worker's sweep took it first
                log.info("worker.run_recovery_skipped", job_id=job.id, reason=str(exc)[:200])
                continue
            RUNS_RECOVERED.inc()
            log.warning("worker.run_recovered", job_id=job.id, run_id=job.task_kwargs.get("run_id"))
        await app.job_manager.prune_stalled_workers(stall_timeout)

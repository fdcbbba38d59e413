"""Queue workers: the procrastinate app with loopdesk's tasks (execute a run, deliver a webhook) and
periodic sweeps (take up runs of dead workers, delete expired threads). `serve` runs one worker in
its own event loop; `loopdesk worker` runs one as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import procrastinate
import structlog
from sqlalchemy import text

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.queue import QUEUE, RUN_TASK
from loopdesk.runtime.runs.executor import RunExecutor

log = structlog.get_logger("loopdesk.worker")

SWEEP_TASK = "loopdesk.recover_stalled_runs"
TTL_TASK = "loopdesk.sweep_expired_threads"


@dataclass
class QueueWorker:
    app: procrastinate.App
    settings: Settings
    task: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, url: str, settings: Settings, database: Database, persistence: Persistence, graphs: GraphRegistry):
        connector = procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=4)
        app = procrastinate.App(connector=connector)
        executor = RunExecutor(database, persistence, graphs)
        stall_timeout = settings.runtime.stall_timeout_seconds
        sweep_every = max(1, int(stall_timeout // 2))

        @app.task(name=RUN_TASK, queue=QUEUE)
        async def execute_run(run_id: str) -> None:
            await executor.execute(uuid.UUID(run_id))

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
                log.warning("worker.run_recovered", job_id=job.id, run_id=job.task_kwargs.get("run_id"))
            await app.job_manager.prune_stalled_workers(stall_timeout)

        @app.periodic(cron="* * * * *")
        @app.task(name=TTL_TASK, queue=QUEUE)
        async def sweep_expired_threads(timestamp: int) -> None:
            """Threads past their TTL (and idle) go, with their checkpoints."""
            async with database.sessionmaker() as session, session.begin():
                rows = await session.execute(
                    text("DELETE FROM threads WHERE expires_at < now() AND status <> 'busy' RETURNING thread_id")
                )
                expired = [str(row[0]) for row in rows]
            for thread_id in expired:
                await persistence.checkpointer.adelete_thread(thread_id)
            if expired:
                log.info("worker.threads_expired", count=len(expired))

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
            "abort_job_polling_interval": max(0.5, stall_timeout / 4),
        }

    async def start(self) -> None:
        """Run a worker inside the current event loop (the `serve` form)."""
        await self.app.open_async()
        self.task = asyncio.create_task(
            self.app.run_worker_async(**self._options(install_signal_handlers=False)), name="queue-worker"
        )
        log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.app.close_async()

    async def run_forever(self) -> None:
        """The `loopdesk worker` form: stops on SIGINT / SIGTERM after handing back unfinished runs."""
        async with self.app.open_async():
            log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)
            await self.app.run_worker_async(**self._options(install_signal_handlers=True))

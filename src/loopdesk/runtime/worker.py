"""Queue workers: a procrastinate app with every domain's tasks (each domain declares its own in
`<domain>/tasks.py`: runs, threads, crons, tools, feedback, support, notifications). `serve` runs one
worker in its own event loop; `loopdesk worker` runs one as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.core.db import Database, check_if_in_doubt, mark_returned, prepare_threshold
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import Settings
from loopdesk.feedback.tasks import register_tasks as feedback_tasks
from loopdesk.notifications.jobs import register_jobs as register_notification_jobs
from loopdesk.runtime.crons.tasks import register_tasks as cron_tasks
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.heartbeat import Heartbeat
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.queue import QUEUE, WorkerContext
from loopdesk.runtime.runs.events import Publisher
from loopdesk.runtime.runs.tasks import register_tasks as run_tasks
from loopdesk.runtime.threads.tasks import register_tasks as thread_tasks
from loopdesk.support.tasks import register_tasks as support_tasks
from loopdesk.system.retention import register_tasks as retention_tasks
from loopdesk.tools.tasks import register_tasks as tool_tasks

log = structlog.get_logger("loopdesk.worker")

# Each domain declares its own tasks; a worker registers all of them.
_DOMAINS: tuple[Callable[[procrastinate.App, WorkerContext], object], ...] = (
    run_tasks,
    thread_tasks,
    cron_tasks,
    tool_tasks,
    feedback_tasks,
    support_tasks,
    retention_tasks,
    lambda app, context: register_notification_jobs(app, context.database, context.settings),
)


def _configure(threshold: int | None) -> Callable[[psycopg.AsyncConnection], Awaitable[None]]:
    async def configure(connection: psycopg.AsyncConnection) -> None:
        # Each of the queue's statements is one function call: in a transaction of its own it costs a BEGIN
        # and a COMMIT round trip more (6 per run). Set here, not in the pool's kwargs: procrastinate adds
        # autocommit=True to those for its LISTEN connection, and twice is an error.
        await connection.set_autocommit(True)
        connection.prepare_threshold = threshold

    return configure


def _queue_pool(**arguments: Any) -> AsyncConnectionPool:
    """procrastinate's pool, with the runtime's check: a round trip only for a connection in doubt
    (procrastinate's default pings on every checkout: 3 more round trips per run)."""
    arguments.update(check=check_if_in_doubt, reset=mark_returned)
    return AsyncConnectionPool(**arguments)


def queue_connector(url: str, settings: Settings) -> procrastinate.PsycopgConnector:
    """The queue's connection pool: autocommit, the runtime's prepared-statement setting, pings only when in doubt."""
    return procrastinate.PsycopgConnector(
        conninfo=url,
        min_size=1,
        max_size=4,
        configure=_configure(prepare_threshold(settings.database.db_prepared_statements)),
        pool_factory=_queue_pool,
    )


@dataclass
class QueueWorker:
    app: procrastinate.App
    settings: Settings
    url: str = ""  # the database (libpq form): the heartbeat thread's own connection
    task: asyncio.Task[None] | None = None
    stopping: bool = False  # a stop was asked for (a signal): the worker's return then ends the process's worker
    current: Any = None  # procrastinate's worker running now

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
        connector = queue_connector(url, settings)
        app = procrastinate.App(connector=connector)
        context = WorkerContext(settings, database, persistence, graphs, publisher, limiter)
        for register in _DOMAINS:
            register(app, context)
        return cls(app=app, settings=settings, url=url)

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
        """Run the worker, its liveness reported by a thread (runtime.heartbeat); if it stops on an error (the
        database went away), start it again with backoff; if it was judged dead meanwhile, register again at once.
        It returns only when a stop was asked for: procrastinate also stops by itself when one of its side tasks
        fails (its LISTEN connection, when PostgreSQL restarts), and then it is started again."""
        delay = 0.5
        while not self.stopping:
            options = self._options(install_signal_handlers=install_signal_handlers)
            self.app.perform_import_paths()
            worker = self.current = self.app._worker(**options)  # what run_worker_async builds, kept to read its id
            heartbeat = Heartbeat(
                self.url,
                lambda worker=worker: worker.worker_id,
                interval=options["update_heartbeat_interval"],
                hang_seconds=max(60.0, 10 * options["stalled_worker_timeout"]),
                on_lost=worker.stop,
            )
            heartbeat.start()
            try:
                await worker.run()
                if self.stopping:
                    return
                if heartbeat.lost:
                    log.warning("worker.registering_again")
                    continue
                log.warning("worker.stopped_by_itself", retry_in=delay)  # e.g. its LISTEN connection was lost
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged, then retried: the worker must outlive outages
                log.warning("worker.restarting", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await heartbeat.stop()

    async def start(self) -> None:
        """Run a worker inside the current event loop (the `serve` form)."""
        await self.app.open_async()
        self.task = asyncio.create_task(self._supervised(install_signal_handlers=False), name="queue-worker")
        log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)

    async def stop(self) -> None:
        """Cancel the worker: procrastinate then stops taking jobs and gives running ones the graceful timeout.
        A cancel that lands while the worker is starting up can be lost inside procrastinate (its loop was found
        waiting for jobs, never told to stop: the stop hung, a few times per full test run): the cancel is repeated
        once the graceful timeout has passed."""
        self.stopping = True
        if self.task is not None:
            grace = self._options(install_signal_handlers=False)["shutdown_graceful_timeout"]
            for _ in range(3):
                self.task.cancel()
                done, _ = await asyncio.wait({self.task}, timeout=grace + 1.0)
                if done:
                    break
                log.warning("worker.stop_repeated", waited_seconds=grace + 1.0)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                if self.task.done():
                    await self.task
        with contextlib.suppress(Exception):
            await self.app.close_async()

    async def run_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """The `loopdesk worker` form: stops on SIGINT / SIGTERM after handing back unfinished runs.
        `on_ready`: called once the queue is open and the worker about to take jobs."""
        async with self.app.open_async():
            log.info("worker.started", concurrency=self.settings.runtime.worker_concurrency)
            if on_ready is not None:
                on_ready()
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            for number in signals:
                loop.add_signal_handler(number, self._request_stop)
            try:
                await self._supervised(install_signal_handlers=False)
            finally:
                for number in signals:
                    loop.remove_signal_handler(number)

    def _request_stop(self) -> None:
        """SIGINT / SIGTERM: stop taking jobs, hand unfinished runs back, then return."""
        self.stopping = True
        if self.current is not None:
            self.current.stop()

"""A queue worker's liveness, reported from a thread of its own.

procrastinate reports a worker alive from a task on the worker's event loop: a loop kept busy (CPU saturation,
a graph step computing without awaiting) misses its heartbeats, and other workers then take up the runs of a
worker that is slow, not dead. Here a thread sends the heartbeat: it keeps going while the loop is busy and stops
with the process. It still requires signs of life from the loop: one that has not turned for `hang_seconds` is
taken as hung, and its heartbeats stop so that its runs are taken up elsewhere.

A worker whose row is gone all the same (another worker pruned it while this process was frozen, e.g. the machine
suspended) has been judged dead: its runs went to others. It is told (`lost`), stops, and registers again."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import psycopg
import structlog

log = structlog.get_logger("loopdesk.worker")

_BEAT = "UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = %s"


class Heartbeat:
    def __init__(
        self,
        url: str,
        worker_id: Callable[[], int | None],
        *,
        interval: float,
        hang_seconds: float,
        on_lost: Callable[[], None],
    ):
        """`worker_id`: the worker's row once registered (None before). `on_lost`: called on the loop when the row
        is gone."""
        self.url = url
        self.worker_id = worker_id
        self.interval = interval
        self.hang_seconds = hang_seconds
        self.on_lost = on_lost
        self.lost = False
        self.beats = 0
        self._tick = time.monotonic()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tick = time.monotonic()
        self._ticker = asyncio.create_task(self._turns(), name="heartbeat-loop-ticks")
        self._thread = threading.Thread(target=self._run, name="loopdesk-heartbeat", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, self.interval + 10)

    async def _turns(self) -> None:
        """The loop's sign of life: it turned within the last interval."""
        while True:
            self._tick = time.monotonic()
            await asyncio.sleep(min(1.0, self.interval))

    def _run(self) -> None:
        connection: psycopg.Connection | None = None
        try:
            while not self._stop.wait(self.interval):
                worker_id = self.worker_id()
                if worker_id is None:
                    continue
                silent = time.monotonic() - self._tick
                if silent > self.hang_seconds:
                    log.error("worker.loop_hung", silent_seconds=round(silent, 1))
                    continue  # no heartbeat: the runs of a hung loop go to other workers
                try:
                    if connection is None or connection.closed:
                        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                    found = connection.execute(_BEAT, (worker_id,)).rowcount
                except psycopg.Error as exc:
                    log.warning("worker.heartbeat_failed", error=type(exc).__name__)
                    if connection is not None:
                        connection.close()
                    connection = None
                    continue
                self.beats += 1
                if not found:
                    log.warning("worker.judged_dead", worker_id=worker_id)
                    self.lost = True
                    if self._loop is not None and not self._loop.is_closed():
                        self._loop.call_soon_threadsafe(self.on_lost)
                    return
        finally:
            if connection is not None:
                connection.close()

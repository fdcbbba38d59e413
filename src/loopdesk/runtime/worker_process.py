"""`serve`'s queue worker as a child process of its own (LOOPDESK_WORKER_PROCESS, the default): on 2 cores the
API and the worker each get a core's worth of Python instead of sharing one event loop and one GIL
(benchmarks/runtime.py, same run: 46.8 runs/s at 50 clients against 37.3 in one process; p50 at one client
29 ms against 37). The child never outlives `serve`: it is stopped with it, and stops by itself when its parent
is gone however that ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import structlog

from loopdesk.core.children import when_parent_gone
from loopdesk.core.settings import Settings

log = structlog.get_logger("loopdesk.worker")

STOP_SECONDS = 15.0  # a graceful stop hands unfinished runs back to the queue first


READY_SECONDS = 60.0


def child_environment(settings: Settings, database_url: str) -> dict[str, str]:
    """The worker child's environment: ours, plus what this process decided at start-up beyond it (the database it
    resolved, hosts it let outbound HTTP reach, such as the support demo's backend), so that both agree."""
    return {
        **os.environ,
        "LOOPDESK_DATABASE_URL": database_url,
        "LOOPDESK_MIGRATE_ON_START": "false",
        "LOOPDESK_OUTBOUND_ALLOWLIST": json.dumps(settings.outbound.outbound_allowlist),
    }


def metrics_socket_path() -> Path:
    """Where this process's worker child answers for its metrics (a private Unix socket; system.worker_metrics)."""
    return Path(tempfile.gettempdir()) / f"loopdesk-worker-{os.getpid()}-{secrets.token_hex(4)}.sock"


async def start_worker_process(
    settings: Settings, database_url: str, metrics_socket: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `loopdesk worker` on the same database (already migrated) and graphs, and wait until it takes jobs
    (its start-up logs then come before the banner); its logs join ours. `metrics_socket`: where the child answers
    for its metrics."""
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "loopdesk", "worker", "--parent", str(os.getpid()), "--ready-fd", str(write_end)]
    if metrics_socket is not None:
        command += ["--metrics-socket", str(metrics_socket)]
    if settings.runtime.graphs_config is not None:
        command += ["--config", str(settings.runtime.graphs_config)]
    command += ["--concurrency", str(settings.runtime.worker_concurrency)]
    try:
        child = await asyncio.to_thread(
            subprocess.Popen, command, env=child_environment(settings, database_url), pass_fds=(write_end,)
        )
    finally:
        os.close(write_end)
    try:
        # b"" (the child exited before it was ready) or a byte; a child still starting after the limit goes on.
        ready = await asyncio.wait_for(asyncio.to_thread(os.read, read_end, 1), READY_SECONDS)
    except TimeoutError:
        ready = b"?"
    finally:
        with contextlib.suppress(OSError):
            os.close(read_end)
    if not ready:
        log.error("worker.process_failed", pid=child.pid, returncode=child.poll())
    else:
        log.info("worker.process_started", pid=child.pid, concurrency=settings.runtime.worker_concurrency)
    return child


def signal_ready(ready_fd: int | None) -> None:
    """In the child: tell `serve` the worker takes jobs now."""
    if ready_fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(ready_fd, b"1")
        os.close(ready_fd)


async def stop_worker_process(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(child.wait, STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        await asyncio.to_thread(child.wait)
    log.info("worker.process_stopped", pid=child.pid, returncode=child.returncode)


def stop_with_parent(parent: int) -> None:
    """In the child: a graceful stop (SIGTERM to ourselves, runs handed back) once `parent` is gone."""

    def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(os.getpid(), signal.SIGTERM)

    when_parent_gone(parent, stop)

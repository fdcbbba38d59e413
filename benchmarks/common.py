"""What every benchmark needs: a free loopback port, a migrated database on an embedded PostgreSQL,
waiting for a server to answer."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from loopdesk.core.embedded import ensure_database, start_embedded_postgres
from loopdesk.core.migrate import run_migrations


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database(data_dir: Path) -> str:
    """An embedded PostgreSQL in `data_dir` with a migrated `bench` database; returns its URL."""
    admin_url = start_embedded_postgres(data_dir, "postgres")
    ensure_database(admin_url, "bench")
    url = admin_url.replace("/postgres?", "/bench?")
    run_migrations(url)
    return url


def wait_until_up(url: str, process: subprocess.Popen | None = None, *, seconds: float = 60) -> None:
    """Until `url` answers below 500 (or the process exits, or time runs out: RuntimeError)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def bench_token(base: str) -> str:
    """Register the benchmark user (once) and log it in: a bearer token."""
    user = {"email": "bench@example.com", "password": "bench-password-1", "display_name": "Bench"}
    httpx.post(f"{base}/api/v1/auth/register", json=user, timeout=10)
    login = httpx.post(f"{base}/api/v1/auth/login", json={k: user[k] for k in ("email", "password")}, timeout=10)
    return login.json()["access_token"]


def summary(latencies: list[float], elapsed: float, failures: int) -> dict:
    latencies.sort()
    return {
        "runs_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "failures": failures,
    }


async def drive(total: int, concurrency: int, one_call: Callable[[int], Awaitable[bool]], progress, task) -> dict:  # type: ignore[no-untyped-def]
    """`total` calls shared by `concurrency` clients (client i passes i); latency and throughput."""
    latencies: list[float] = []
    failures = 0
    remaining = total

    async def client(index: int) -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            ok = await one_call(index)
            latencies.append(time.perf_counter() - started)
            failures += not ok
            progress.advance(task)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return summary(latencies, time.perf_counter() - started, failures)


def ratio_table(
    title: str, unit: str, baseline: str, ratio_key: str, pairs: list[tuple[str, str]], results: dict[str, dict]
) -> Table:
    """Rows of (baseline scenario, measured scenario); the measured one gets `ratio_key` = its rate over the
    baseline's, measured in the same run."""
    table = Table(title=title)
    for column in ("scenario", f"{unit}/s", "p50 ms", "p99 ms", "failures", f"{unit}/s vs {baseline}"):
        table.add_column(column)
    for base_name, name in pairs:
        base, ours = results[base_name], results[name]
        ours[ratio_key] = round(ours["runs_per_s"] / base["runs_per_s"], 3)
        for row_name, r in ((base_name, base), (name, ours)):
            ratio = f"{r[ratio_key]:.2f}×" if ratio_key in r else "1.00× (baseline)"
            numbers = (f"{r['runs_per_s']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["failures"]))
            table.add_row(row_name, *numbers, ratio)
    return table


def write_results(console: Console, output: Path, payload: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=2))
    console.print(f"results written to {output}")


@contextmanager
def shared_database(console: Console) -> Iterator[str]:
    """An embedded PostgreSQL with a migrated `bench` database for the length of the block: its URL."""
    from loopdesk.core.embedded import leave_embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-shared-"))
    with console.status("starting PostgreSQL and migrating…"):
        url = bench_database(data_dir)
    try:
        yield url
    finally:
        leave_embedded_postgres(data_dir)


@contextmanager
def served_loopdesk(
    console: Console,
    name: str,
    *,
    worker_concurrency: int,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    split: bool = False,
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """An embedded PostgreSQL and a `loopdesk serve` on it, with the benchmark user signed in:
    (database URL, base URL, auth headers). One user drives every run, so its run limit is lifted.
    `split`: the worker is `serve`'s child process (its default, LOOPDESK_WORKER_PROCESS); else it runs in the API's
    event loop."""
    from loopdesk.core.embedded import leave_embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix=f"loopdesk-bench-{name}-"))
    with console.status("starting PostgreSQL and migrating…"):
        url = bench_database(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "LOOPDESK_DATABASE_URL": url,
        "LOOPDESK_DATA_DIR": str(data_dir),
        "LOOPDESK_LOG_LEVEL": "WARNING",
        "LOOPDESK_WORKER_CONCURRENCY": str(worker_concurrency),
        "LOOPDESK_DB_POOL_SIZE": "20",
        "LOOPDESK_LOGIN_LIMIT_PER_IP": "1000/minute",
        "LOOPDESK_RUN_RATE_LIMIT": "100000/minute",
        "LOOPDESK_WORKER_PROCESS": "true" if split else "false",
        **(env or {}),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "loopdesk", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/api/v1/health", server)
        yield url, base, {"Authorization": f"Bearer {bench_token(base)}"}
    finally:
        server.terminate()
        server.wait(timeout=60)
        leave_embedded_postgres(data_dir)

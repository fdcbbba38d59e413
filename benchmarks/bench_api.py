"""API overhead benchmark: loopdesk's authenticated reads against a bare FastAPI baseline doing the
same database work, both real uvicorn processes on one embedded PostgreSQL, measured in one run.

    .venv/bin/python benchmarks/bench_api.py [--requests 2000] [--concurrency 8]

Reports requests/s, p50/p99 latency and the ratio loopdesk / baseline (1.0 = no overhead)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import typer
from common import bench_database, free_port, wait_until_up
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loopdesk.core.embedded import leave_embedded_postgres

ROOT = Path(__file__).resolve().parent
console = Console()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _load(url: str, headers: dict[str, str], requests: int, concurrency: int, progress, task) -> dict:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for _ in range(50):  # warm-up: pools, caches
            await client.get(url)

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200
                progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures,
    }


def main(
    requests: int = typer.Option(2000, help="Requests per scenario."),
    concurrency: int = typer.Option(8, help="Concurrent connections."),
    output: Path = typer.Option(ROOT / "results" / "api.json", help="Where to write the JSON results."),
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-"))
    with console.status("starting PostgreSQL and migrating…"):
        url = bench_database(data_dir)
    loop_port, base_port = free_port(), free_port()
    env = {"LOOPDESK_DATABASE_URL": url, "LOOPDESK_LOG_LEVEL": "WARNING", "LOOPDESK_DATA_DIR": str(data_dir)}
    env |= {"LOOPDESK_LOGIN_LIMIT_PER_IP": "1000/minute"}
    servers = [
        _spawn([sys.executable, "-m", "loopdesk", "serve", "--port", str(loop_port)], env),
        _spawn(
            [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(base_port), "--log-level", "warning"],
            {**env, "BASELINE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        ),
    ]
    try:
        loop, base = f"http://127.0.0.1:{loop_port}", f"http://127.0.0.1:{base_port}"
        wait_until_up(f"{loop}/api/v1/health")
        wait_until_up(f"{base}/ping-db")
        user = {"email": "bench@example.com", "password": "bench-password-1", "display_name": "Bench"}
        user_id = httpx.post(f"{loop}/api/v1/auth/register", json=user).json()["id"]
        login = httpx.post(f"{loop}/api/v1/auth/login", json={k: user[k] for k in ("email", "password")})
        jwt_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = httpx.post(f"{loop}/api/v1/api-keys", json={"name": "bench"}, headers=jwt_headers).json()["key"]

        scenarios = [
            ("baseline: read user, no auth", f"{base}/users/{user_id}", {}),
            ("loopdesk: GET /users/me, JWT", f"{loop}/api/v1/users/me", jwt_headers),
            ("loopdesk: GET /users/me, API key", f"{loop}/api/v1/users/me", {"X-API-Key": key}),
            ("baseline: SELECT 1", f"{base}/ping-db", {}),
            ("loopdesk: GET /health", f"{loop}/api/v1/health", {}),
        ]
        results: dict[str, dict] = {}
        with Progress(console=console) as progress:
            for name, url_, headers in scenarios:
                task = progress.add_task(name, total=requests)
                results[name] = asyncio.run(_load(url_, headers, requests, concurrency, progress, task))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        leave_embedded_postgres(data_dir)

    base_user = results["baseline: read user, no auth"]["rps"]
    base_ping = results["baseline: SELECT 1"]["rps"]
    ratios = {
        "loopdesk: GET /users/me, JWT": base_user,
        "loopdesk: GET /users/me, API key": base_user,
        "loopdesk: GET /health": base_ping,
    }
    table = Table(title=f"{requests} requests per scenario, {concurrency} connections")
    for column in ("scenario", "req/s", "p50 ms", "p99 ms", "failures", "vs baseline"):
        table.add_column(column)
    for name, r in results.items():
        ratio = f"{r['rps'] / ratios[name]:.2f}×" if name in ratios else "1.00× (baseline)"
        r["ratio_vs_baseline"] = round(r["rps"] / ratios[name], 3) if name in ratios else 1.0
        table.add_row(name, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["failures"]), ratio)
    console.print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"requests": requests, "concurrency": concurrency, "results": results}, indent=2))
    console.print(f"written to {output}")


if __name__ == "__main__":
    typer.run(main)

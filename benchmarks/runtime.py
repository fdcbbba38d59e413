"""Runtime benchmark: `runs.wait` of a one-node graph through loopdesk (HTTP → queue → worker →
checkpoints → event log → answer) against the floor: the same graph invoked in-process with the same
AsyncPostgresSaver on the same PostgreSQL. Both in one run, at concurrency 1, 10 and 50.

    .venv/bin/python benchmarks/runtime.py [--runs 300]

Each concurrent client drives its own thread (one active run per thread, as the protocol requires)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import typer
from common import bench_database, bench_token, free_port, wait_until_up
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loopdesk.core.embedded import leave_embedded_postgres

ROOT = Path(__file__).resolve().parent
GRAPHS = ROOT / "graphs" / "langgraph.json"
console = Console()


def _summary(latencies: list[float], elapsed: float, failures: int) -> dict:
    latencies.sort()
    return {
        "runs_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "failures": failures,
    }


async def _drive(total: int, concurrency: int, one_call, progress, task) -> dict:  # type: ignore[no-untyped-def]
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
    return _summary(latencies, time.perf_counter() - started, failures)


async def _floor(url: str, total: int, concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "graphs"))
    from one_node import builder

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=10,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
    )
    await pool.open(wait=True)
    try:
        graph = builder.compile(checkpointer=AsyncPostgresSaver(pool))
        threads = [str(uuid.uuid4()) for _ in range(concurrency)]

        async def call(index: int) -> bool:
            result = await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": threads[index]}})
            return result.get("n", 0) >= 1

        for index in range(concurrency):  # warm-up
            await call(index)
        return await _drive(total, concurrency, call, progress, task)
    finally:
        await pool.close()


async def _loopdesk(base: str, headers: dict, total: int, concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=concurrency + 5)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http:
        threads = [(await http.post("/threads", json={})).json()["thread_id"] for _ in range(concurrency)]

        async def call(index: int) -> bool:
            response = await http.post(
                f"/threads/{threads[index]}/runs/wait", json={"assistant_id": "one_node", "input": {"n": 0}}
            )
            return response.status_code == 200 and json.loads(response.content).get("n", 0) >= 1

        for index in range(concurrency):  # warm-up
            await call(index)
        return await _drive(total, concurrency, call, progress, task)


def main(
    runs: int = typer.Option(300, help="Runs per scenario and concurrency level."),
    levels: str = typer.Option("1,10,50", help="Concurrency levels, comma-separated."),
    output: Path = typer.Option(ROOT / "results" / "runtime.json", help="Where to write the JSON results."),
) -> None:
    concurrency_levels = [int(x) for x in levels.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-runtime-"))
    with console.status("starting PostgreSQL and migrating…"):
        url = bench_database(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "LOOPDESK_DATABASE_URL": url,
        "LOOPDESK_DATA_DIR": str(data_dir),
        "LOOPDESK_LOG_LEVEL": "WARNING",
        "LOOPDESK_WORKER_CONCURRENCY": str(max(concurrency_levels)),
        "LOOPDESK_DB_POOL_SIZE": "20",
        "LOOPDESK_LOGIN_LIMIT_PER_IP": "1000/minute",
        "LOOPDESK_RUN_RATE_LIMIT": "100000/minute",  # one user drives every run: measure throughput, not the limit
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "loopdesk", "serve", "--port", str(port), "--config", str(GRAPHS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict] = {}
    try:
        wait_until_up(f"{base}/api/v1/health", server)
        headers = {"Authorization": f"Bearer {bench_token(base)}"}
        with Progress(console=console) as progress:
            for level in concurrency_levels:
                task = progress.add_task(f"floor (in-process ainvoke) c={level}", total=runs)
                results[f"floor c={level}"] = asyncio.run(_floor(url, runs, level, progress, task))
                task = progress.add_task(f"loopdesk runs.wait c={level}", total=runs)
                results[f"loopdesk c={level}"] = asyncio.run(_loopdesk(base, headers, runs, level, progress, task))
    finally:
        server.terminate()
        server.wait(timeout=30)
        leave_embedded_postgres(data_dir)

    table = Table(title=f"runs.wait of a one-node graph, {runs} runs per row (2 cores, embedded PostgreSQL)")
    for column in ("scenario", "runs/s", "p50 ms", "p99 ms", "failures", "runs/s vs floor"):
        table.add_column(column)
    for level in concurrency_levels:
        floor, ours = results[f"floor c={level}"], results[f"loopdesk c={level}"]
        ours["ratio_vs_floor"] = round(ours["runs_per_s"] / floor["runs_per_s"], 3)
        for name, r in ((f"floor c={level}", floor), (f"loopdesk c={level}", ours)):
            ratio = f"{r['ratio_vs_floor']:.2f}×" if "ratio_vs_floor" in r else "1.00× (floor)"
            table.add_row(
                name, f"{r['runs_per_s']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["failures"]), ratio
            )
    console.print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"runs": runs, "results": results}, indent=2))
    console.print(f"results written to {output}")


if __name__ == "__main__":
    typer.run(main)

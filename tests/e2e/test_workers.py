"""Scaled-out form: `serve --no-worker` plus `loopdesk worker` processes on one database. A worker
SIGKILLed mid-run: another worker takes the run up and continues from its last checkpoint."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import PASSWORD, TEST_GRAPHS
from tests.e2e.test_serve import _free_port

STALL_SECONDS = 3

pytestmark = pytest.mark.e2e  # slow: `make test-e2e`


def _spawn(log: Path, database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    environment.update(
        LOOPDESK_DATABASE_URL=database_url,
        LOOPDESK_GRAPHS_CONFIG=str(TEST_GRAPHS),
        LOOPDESK_MIGRATE_ON_START="false",
        LOOPDESK_STALL_TIMEOUT_SECONDS=str(STALL_SECONDS),
        LOOPDESK_JWT_SECRET="e2e-secret-" + "y" * 32,
        LOOPDESK_LOG_LEVEL="INFO",
    )
    environment.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "loopdesk", *args], env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=1) as http:
        for _ in range(600):
            assert process.poll() is None, log.read_text()
            try:
                if (await http.get("/api/v1/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("API did not start:\n" + log.read_text())


async def _token(base: str) -> dict[str, str]:
    email = f"w-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        account = {"email": email, "password": PASSWORD}
        created = await http.post("/api/v1/auth/register", json={**account, "display_name": "W"})
        assert created.status_code == 201, created.text
        login = await http.post("/api/v1/auth/login", json=account)
        assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_sigkilled_worker_run_completes_on_another_worker(database_url, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    api = _spawn(tmp_path / "api.log", database_url, "serve", "--no-worker", "--port", str(port))
    processes = [api]
    try:
        await _healthy(base, api, tmp_path / "api.log")
        client = get_client(url=base, api_key=None, headers=await _token(base))
        thread = await client.threads.create()
        tid = thread["thread_id"]
        run = await client.runs.create(tid, "slow", input={"steps": [], "delay": 2}, stream_mode=["updates"])
        await asyncio.sleep(1)
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "pending"  # the API executes nothing

        first = _spawn(tmp_path / "worker1.log", database_url, "worker")
        processes.append(first)
        async for part in client.runs.join_stream(tid, run["run_id"]):
            if part.event == "updates":
                break  # the first step is checkpointed; the second is under way on worker 1
        second = _spawn(tmp_path / "worker2.log", database_url, "worker")
        processes.append(second)
        await asyncio.sleep(1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = asyncio.get_running_loop().time()

        result = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), timeout=60)
        recovered_in = asyncio.get_running_loop().time() - killed_at
        print(f"recovered and finished {recovered_in:.1f} s after SIGKILL")
        # Continued from the checkpoint: "first" ran once (a restart from the input would append it again).
        assert result["steps"] == ["first", "second"], result
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
        assert recovered_in < STALL_SECONDS + 10, recovered_in
        assert "worker.run_recovered" in (tmp_path / "worker2.log").read_text()
        events = [p.event async for p in client.runs.join_stream(tid, run["run_id"])]
        assert events == ["metadata", "updates", "updates", "end"]  # each event once, across both workers
    finally:
        _stop_all(processes)


async def test_a_stream_resumes_after_the_api_process_restarts(database_url, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    api = _spawn(tmp_path / "api.log", database_url, "serve", "--no-worker", "--port", str(port))
    worker = _spawn(tmp_path / "worker.log", database_url, "worker")
    processes = [api, worker]
    try:
        await _healthy(base, api, tmp_path / "api.log")
        headers = await _token(base)
        client = get_client(url=base, api_key=None, headers=headers)
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(
            tid, "slow", input={"steps": [], "delay": 1.5}, stream_mode=["updates", "custom", "values"]
        )
        seen = []
        async for part in client.runs.join_stream(tid, run["run_id"]):
            seen.append(part)
            if part.event == "custom":
                break
        api.send_signal(signal.SIGTERM)  # the API process goes away mid-run; the worker goes on
        api.wait(timeout=30)
        api = _spawn(tmp_path / "api2.log", database_url, "serve", "--no-worker", "--port", str(port))
        processes.append(api)
        await _healthy(base, api, tmp_path / "api2.log")
        client = get_client(url=base, api_key=None, headers=headers)  # tokens outlive the process
        rest = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id=seen[-1].id)]
        full = [p async for p in client.runs.join_stream(tid, run["run_id"])]
        assert [(p.event, p.id) for p in seen + rest] == [(p.event, p.id) for p in full]
        assert full[-1].event == "end" and rest  # events written while the API was down were delivered
    finally:
        _stop_all(processes)

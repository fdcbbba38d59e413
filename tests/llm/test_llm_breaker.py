"""The model circuit breaker against a real OpenAI-compatible server on 127.0.0.1 that counts the requests it gets:
server errors open the circuit, an open circuit sends nothing, one probe after the reset time, 4xx never counts,
and a run whose model's circuit is open ends with an error event that says so."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel

from loopdesk.core.breaker import Breakers, CircuitOpen, install_breakers
from loopdesk.core.settings import Settings
from loopdesk.llm import LLMSettings, RetryingChatModel, build_chat_model, classify
from tests.tools.agents import start_thread

RESET = 0.2  # seconds an open circuit refuses calls in the probe tests: tiny, so they stay fast
LONG = 60.0  # in the others: no probe may slip in while they look at the open circuit


class StubProvider:
    """An OpenAI-compatible chat server: each request takes the next step of its plan (an HTTP status, "ok", or
    ("sleep", seconds) before answering); after the plan, "ok"."""

    def __init__(self, *plan: Any) -> None:
        self.plan = list(plan)
        self.requests = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests += 1
                    step = stub.plan.pop(0) if stub.plan else "ok"
                if isinstance(step, tuple):
                    time.sleep(step[1])
                    step = "ok"
                if step == "ok":
                    self._send(200, _completion(body))
                else:
                    error = {"error": {"type": "server_error" if step >= 500 else "invalid_request_error"}}
                    self._send(step, {"error": {**error["error"], "message": f"status {step}"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    content = '{"answer": "pong"}' if body.get("response_format") else "pong"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


class Answer(BaseModel):
    answer: str


@pytest.fixture(autouse=True)
def _local_providers_allowed(monkeypatch):
    monkeypatch.setenv("LOOPDESK_NET_ALLOWLIST", "127.0.0.1")


@pytest.fixture
def stub() -> Iterator[Any]:
    started: list[StubProvider] = []

    def start(*plan: Any) -> StubProvider:
        started.append(StubProvider(*plan))
        return started[-1]

    yield start
    for server in started:
        server.close()


def model_for(server: StubProvider, breakers: Breakers, *, retries: int = 0) -> tuple[RetryingChatModel, str]:
    """A vLLM model at the stub (a model name of its own: a circuit of its own) and its circuit's target."""
    name = f"m-{uuid.uuid4().hex[:8]}"
    settings = LLMSettings(
        _env_file=None, llm_provider="vllm", llm_model=name, llm_base_url=server.url, llm_max_retries=retries
    )
    model = build_chat_model(None, settings, breakers=breakers)
    assert isinstance(model, RetryingChatModel)
    return model.model_copy(update={"initial_wait": 0.01, "max_wait": 0.02}), f"vllm:{name}"


def state(target: str) -> float | None:
    return REGISTRY.get_sample_value("loopdesk_circuit_state", {"kind": "llm", "target": target})


def transitions(target: str, to: str) -> float:
    return REGISTRY.get_sample_value("loopdesk_circuit_transitions_total", {"kind": "llm", "target": target, "to": to})


async def test_consecutive_server_errors_open_the_circuit_and_the_next_calls_send_nothing(stub):
    server = stub(503, 502, 500, "ok")
    model, target = model_for(server, Breakers(3, LONG), retries=5)
    with pytest.raises(CircuitOpen) as refused:  # the third error opened it: the retries stop there
        await model.ainvoke("ping")
    assert server.requests == 3
    assert classify(refused.value) == "fatal"
    assert f"model {target!r} is unavailable: 3 consecutive failures" in str(refused.value)
    for call in (model.ainvoke("ping"), model.with_structured_output(Answer).ainvoke("ping")):
        with pytest.raises(CircuitOpen):
            await call
    with pytest.raises(CircuitOpen):
        [chunk async for chunk in model.astream("ping")]
    with pytest.raises(CircuitOpen):
        model.invoke("ping")  # the blocking path too
    assert server.requests == 3  # nothing reached the provider while open
    assert state(target) == 2


async def test_after_the_reset_time_one_probe_goes_through_and_its_success_closes(stub):
    server = stub(500, 500, ("sleep", 0.3))
    model, target = model_for(server, Breakers(2, RESET))
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await model.ainvoke("ping")
    await asyncio.sleep(RESET + 0.05)
    outcomes = await asyncio.gather(*(model.ainvoke("ping") for _ in range(4)), return_exceptions=True)
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, CircuitOpen)]
    assert len(answered) == 1 and answered[0].content == "pong" and len(refused) == 3
    assert server.requests == 3  # two errors and the one probe
    assert "a probe call is checking" in str(refused[0])
    assert state(target) == 0
    assert (await model.ainvoke("ping")).content == "pong" and server.requests == 4
    assert (transitions(target, "open"), transitions(target, "half_open"), transitions(target, "closed")) == (1, 1, 1)


async def test_a_failed_probe_opens_the_circuit_again(stub):
    server = stub(500, 503)
    model, target = model_for(server, Breakers(1, RESET))
    with pytest.raises(openai.InternalServerError):
        await model.ainvoke("ping")
    await asyncio.sleep(RESET + 0.05)
    with pytest.raises(openai.InternalServerError):  # the probe: reached the server and failed
        await model.ainvoke("ping")
    with pytest.raises(CircuitOpen):
        await model.ainvoke("ping")
    assert server.requests == 2 and state(target) == 2 and transitions(target, "open") == 2
    await asyncio.sleep(RESET + 0.05)
    assert (await model.ainvoke("ping")).content == "pong" and state(target) == 0


async def test_client_errors_never_open_the_circuit(stub):
    server = stub(400, 401, 404, 429, 400, 400)
    model, target = model_for(server, Breakers(2, LONG))
    for _ in range(6):
        with pytest.raises(openai.APIStatusError):
            await model.ainvoke("ping")
    assert (await model.ainvoke("ping")).content == "pong"
    assert server.requests == 7 and state(target) == 0


async def test_a_named_model_has_its_own_circuit(stub):
    server = stub(500)
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    settings = LLMSettings(_env_file=None, llm_models={name: {"provider": "vllm", "model": "m", "base_url": server.url,
                                                               "max_retries": 0}})  # fmt: skip
    breakers = Breakers(1, LONG)
    with pytest.raises(openai.InternalServerError):
        await build_chat_model(name, settings, breakers=breakers).ainvoke("ping")
    assert breakers.get("llm", name).state == "open" and state(name) == 2
    with pytest.raises(CircuitOpen, match=f"model '{name}' is unavailable"):
        await build_chat_model(name, settings, breakers=breakers).ainvoke("ping")  # a new model object, same circuit
    assert server.requests == 1


@pytest.fixture
def flaky_settings(settings: Settings, stub) -> tuple[Settings, StubProvider]:
    """The suite's settings with a named model at a stub that always answers 503, and no retries."""
    server = stub(*[503] * 20)
    settings.llm = LLMSettings(
        _env_file=None,
        llm_models={"flaky": {"provider": "vllm", "model": "m", "base_url": server.url}},
        llm_max_retries=0,
    )
    settings.outbound.net_allowlist = "127.0.0.1"
    return settings, server


@pytest.fixture
def process_circuits(flaky_settings) -> Iterator[Breakers]:
    """This process's breakers (what the in-process worker's agent uses), opening at the second failure."""
    breakers = Breakers(2, LONG)
    previous = install_breakers(breakers)
    yield breakers
    install_breakers(previous)


async def test_a_run_on_a_model_whose_circuit_is_open_ends_with_an_error_that_says_so(
    flaky_settings, process_circuits, client, make_account
):
    _, server = flaky_settings
    staff = await make_account("operator", role="staff")
    created = await client.post(
        "/assistants", json={"graph_id": "agent", "config": {"configurable": {"model": "flaky"}}}, headers=staff.headers
    )
    assert created.status_code == 200, created.text
    assistant = created.json()["assistant_id"]
    errors = []
    for _ in range(3):
        thread = await start_thread(client, staff.headers)
        run = await client.post(
            f"/threads/{thread}/runs/wait",
            json={"assistant_id": assistant, "input": {"messages": [{"role": "user", "content": "hello"}]}},
            headers=staff.headers,
            timeout=60,
        )
        assert run.status_code == 200, run.text
        errors.append(run.json()["__error__"])
    assert ["503" in e["message"] for e in errors] == [True, True, False]  # the provider's own errors first
    assert errors[2]["error"] == "CircuitOpen"
    assert errors[2]["message"].startswith("model 'flaky' is unavailable: 2 consecutive failures")
    assert server.requests == 2  # the third run sent nothing
    assert process_circuits.get("llm", "flaky").state == "open"

"""The factory's models against a real HTTP server on 127.0.0.1 speaking the OpenAI / Anthropic wire formats:
this is the vLLM / Ollama code path, and it proves which failures are retried, how often, and what usage is seen."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import openai
import pytest
from langchain_core.tools import tool

from loopdesk.llm import LLMSettings, RetryingChatModel, UsageRecorder, build_chat_model, classify

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


@pytest.fixture(autouse=True)
def _local_providers_allowed(monkeypatch):
    """The fake providers listen on 127.0.0.1, which model calls may reach only when allow-listed (as a local
    vLLM or Ollama is in production)."""
    monkeypatch.setenv("LOOPDESK_NET_ALLOWLIST", "127.0.0.1")


class FakeProvider:
    """Answers each request with the next step of its plan: an HTTP status, "ok", "drop" or ("sleep", seconds)."""

    def __init__(self, plan: list[Any]) -> None:
        self.plan = list(plan)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with provider.lock:
                    provider.requests.append(
                        {"path": self.path, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}}
                    )
                    step = provider.plan.pop(0) if provider.plan else "ok"
                try:
                    provider.respond(self, step, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def respond(self, handler: BaseHTTPRequestHandler, step: Any, body: dict[str, Any]) -> None:
        if step == "drop":
            handler.close_connection = True
            return
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = "ok"
        if isinstance(step, tuple):
            status, headers = step
        elif isinstance(step, int):
            status, headers = step, {}
        else:
            status, headers = 200, {}
        if status != 200:
            kind = "overloaded_error" if status == 529 else "rate_limit_error" if status == 429 else "api_error"
            self._json(
                handler, status, {"type": "error", "error": {"type": kind, "message": f"status {status}"}}, headers
            )
        elif handler.path.endswith("/messages"):
            self._json(handler, 200, _anthropic_message(body))
        elif body.get("stream"):
            self._stream(handler, body)
        else:
            self._json(handler, 200, _completion(body))

    @staticmethod
    def _json(
        handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any], headers: dict | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _stream(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": "po"}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": "ng"}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": USAGE})
        for event in events:
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(b"data: [DONE]\n\n")


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "pong"}
    finish = "stop"
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        arguments = json.dumps({"order_id": "ORD-1"})
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
        message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


def _anthropic_message(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": "pong"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }


@pytest.fixture
def provider_with() -> Iterator[Any]:
    servers: list[FakeProvider] = []

    def start(*plan: Any) -> FakeProvider:
        servers.append(FakeProvider(list(plan)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _settings(**values: Any) -> LLMSettings:
    return LLMSettings(_env_file=None, **values)


def _fast(model: Any) -> RetryingChatModel:
    assert isinstance(model, RetryingChatModel)
    return model.model_copy(update={"initial_wait": 0.01, "max_wait": 0.05})


def _vllm(server: FakeProvider, **values: Any) -> RetryingChatModel:
    settings = _settings(llm_provider="vllm", llm_model="test-model", llm_base_url=f"{server.url}/v1", **values)
    return _fast(build_chat_model(None, settings))


def test_rate_limited_twice_then_answered_and_usage_recorded(provider_with):
    server = provider_with(429, 429, "ok")
    recorder = UsageRecorder(prices={})
    reply = _vllm(server).invoke("ping", config={"callbacks": [recorder]})
    assert reply.content == "pong"
    assert len(server.requests) == 3
    assert all(r["path"] == "/v1/chat/completions" for r in server.requests)
    assert server.requests[0]["headers"]["authorization"] == "Bearer not-needed"
    assert {r["headers"]["x-stainless-retry-count"] for r in server.requests} == {"0"}  # the SDK never retried
    [record] = recorder.records
    assert (record.provider, record.model) == ("vllm", "test-model")
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (7, 3, 10)
    assert record.cost_usd is None and record.latency_ms > 0


def test_unauthorised_is_not_retried(provider_with):
    server = provider_with(401, "ok")
    with pytest.raises(openai.AuthenticationError) as caught:
        _vllm(server).invoke("ping")
    assert classify(caught.value) == "fatal"
    assert len(server.requests) == 1


def test_the_client_itself_never_retries(provider_with):
    server = provider_with(429, 429, "ok")
    with pytest.raises(openai.RateLimitError):
        _vllm(server, llm_max_retries=1).invoke("ping")
    assert len(server.requests) == 2  # 1 + llm_max_retries: the SDK's own retries are off


async def test_streamed_answer_after_a_server_error_reports_usage_and_cost(provider_with, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    server = provider_with(503, "ok")
    settings = _settings(llm_provider="openai", llm_model="gpt-4o-mini", llm_base_url=f"{server.url}/v1")
    recorder = UsageRecorder(settings)
    model = _fast(build_chat_model(None, settings))
    chunks = [chunk async for chunk in model.astream("ping", config={"callbacks": [recorder]})]
    assert [c.content for c in chunks if c.content] == ["po", "ng"]
    assert len(server.requests) == 2
    sent = server.requests[-1]
    assert sent["body"]["stream"] is True and sent["body"]["stream_options"] == {"include_usage": True}
    assert sent["headers"]["authorization"] == "Bearer sk-test-key"
    [record] = recorder.records
    assert (record.provider, record.model, record.total_tokens) == ("openai", "gpt-4o-mini", 10)
    assert record.cost_usd == pytest.approx((7 * 0.15 + 3 * 0.60) / 1_000_000)


def test_a_stream_is_retried_before_its_first_chunk(provider_with):
    server = provider_with("drop", 502, "ok")
    chunks = list(_vllm(server).stream("ping"))
    assert "".join(c.content for c in chunks) == "pong"
    assert len(server.requests) == 3 and all(r["body"]["stream"] for r in server.requests)


async def test_dropped_connections_and_timeouts_are_retried(provider_with):
    server = provider_with("drop", ("sleep", 1.0), "ok")
    reply = await _vllm(server, llm_timeout_seconds=0.3).ainvoke("ping")
    assert reply.content == "pong"
    assert len(server.requests) == 3


def test_retry_after_is_honoured(provider_with):
    server = provider_with((429, {"Retry-After": "0.4"}), "ok")
    model = _vllm(server).model_copy(update={"max_wait": 2.0})  # Retry-After beats backoff, up to max_wait
    started = time.perf_counter()
    assert model.invoke("ping").content == "pong"
    assert time.perf_counter() - started >= 0.4
    assert len(server.requests) == 2


def test_bound_tools_go_through_the_retrying_model(provider_with):
    @tool
    def get_order(order_id: str) -> str:
        """Look up an order by its id."""
        return order_id

    server = provider_with(500, "ok")
    reply = _vllm(server).bind_tools([get_order]).invoke("where is ORD-1?")
    assert reply.tool_calls == [
        {"name": "get_order", "args": {"order_id": "ORD-1"}, "id": "call_1", "type": "tool_call"}
    ]
    assert len(server.requests) == 2
    assert all(r["body"]["tools"][0]["function"]["name"] == "get_order" for r in server.requests)


async def test_anthropic_overloaded_is_retried(provider_with, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    server = provider_with(529, 529, "ok")
    settings = _settings(llm_provider="anthropic", llm_model="claude-haiku-4-5", llm_base_url=server.url)
    recorder = UsageRecorder(settings)
    reply = await _fast(build_chat_model(None, settings)).ainvoke("ping", config={"callbacks": [recorder]})
    assert reply.content == "pong"
    assert [r["path"] for r in server.requests] == ["/v1/messages"] * 3
    headers = server.requests[0]["headers"]
    assert "sk-ant-test" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert {r["headers"]["x-stainless-retry-count"] for r in server.requests} == {"0"}  # the SDK never retried
    [record] = recorder.records
    assert (record.provider, record.input_tokens, record.output_tokens) == ("anthropic", 5, 2)
    assert record.cost_usd == pytest.approx((5 * 1.0 + 2 * 5.0) / 1_000_000)


def test_anthropic_bad_request_is_not_retried(provider_with, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    server = provider_with(400, "ok")
    settings = _settings(llm_provider="anthropic", llm_model="claude-haiku-4-5", llm_base_url=server.url)
    with pytest.raises(anthropic.BadRequestError):
        _fast(build_chat_model(None, settings)).invoke("ping")
    assert len(server.requests) == 1


def test_a_private_base_url_is_refused_once_unless_allow_listed(provider_with, monkeypatch):
    monkeypatch.delenv("LOOPDESK_NET_ALLOWLIST")
    server = provider_with("ok")
    with pytest.raises(openai.APIConnectionError) as caught:
        _vllm(server).invoke("ping")
    assert classify(caught.value) == "fatal"  # the policy's refusal is not retried
    assert server.requests == []  # nothing reached the private address


async def test_an_anthropic_base_url_goes_through_the_same_policy(provider_with, monkeypatch):
    monkeypatch.delenv("LOOPDESK_NET_ALLOWLIST")
    server = provider_with("ok")
    settings = _settings(llm_provider="anthropic", llm_model="claude-haiku-4-5", llm_api_key="k",
                         llm_base_url=server.url)  # fmt: skip
    with pytest.raises(anthropic.APIConnectionError):
        await _fast(build_chat_model(None, settings)).ainvoke("ping")
    assert server.requests == []

"""OpenTelemetry traces: with LOOPDESK_OTEL_ENABLED, a run created over HTTP and executed by the queue worker is one
trace (request → run → graph nodes → model call and tool call), exported over OTLP/HTTP to a real receiver on
127.0.0.1 that decodes the protobuf; off, no tracer exists and nothing is exported."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from pydantic import ValidationError

from loopdesk.app import create_app
from loopdesk.core import tracing
from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import LoggingSettings, Settings, TracingSettings
from loopdesk.tools.net import OutboundPolicy, safe_client
from tests.conftest import register_account
from tests.tools.agents import make_agent, start_thread

SERVER, CLIENT, CONSUMER = ProtoSpan.SPAN_KIND_SERVER, ProtoSpan.SPAN_KIND_CLIENT, ProtoSpan.SPAN_KIND_CONSUMER


@dataclass(frozen=True)
class Received:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    error: bool
    resource: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass
class OtlpReceiver:
    """A collector's OTLP/HTTP traces endpoint: POST /v1/traces with an ExportTraceServiceRequest."""

    url: str = ""
    spans: list[Received] = field(default_factory=list)
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.posts += 1
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            Received(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes=_attributes(span.attributes),
                                error=span.status.code == Status.STATUS_CODE_ERROR,
                                resource=resource,
                            )
                        )

    def named(self, name: str) -> list[Received]:
        with self.lock:
            return [span for span in self.spans if span.name == name]

    async def wait_for(self, *names: str, seconds: float = 15.0) -> None:
        """Flush the batch until every named span arrived (a run's span ends after its waiters are answered)."""
        for _ in range(int(seconds / 0.1)):
            await asyncio.to_thread(tracing.flush_tracing)
            if all(self.named(name) for name in names):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"never received {[n for n in names if not self.named(n)]}: {self.spans}")


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    state = OtlpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            state.record(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def traced_settings(settings: Settings, otlp: OtlpReceiver) -> Iterator[Settings]:
    settings.tools.plugins_dir = None
    settings.tracing = TracingSettings(otel_enabled=True, otel_endpoint=otlp.url, _env_file=None)
    yield settings
    tracing.shutdown_tracing()  # this process's tracer goes with the test: the next test starts untraced


@asynccontextmanager
async def served(settings: Settings, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, **options)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            yield http


def only(spans: list[Received]) -> Received:
    assert len(spans) == 1, spans
    return spans[0]


CALCULATOR_TURNS = [
    {"tool_calls": [{"name": "calculator", "args": {"expression": "6*7"}}]},
    {"content": "It is 42."},
]


async def test_a_run_created_over_http_is_one_trace_from_the_request_through_the_worker_to_model_and_tool_calls(
    traced_settings: Settings, otlp: OtlpReceiver
) -> None:
    async with served(traced_settings) as http:
        assistant_id = await make_agent(http, None, CALCULATOR_TURNS, tools=["calculator"])
        account = await register_account(http, "traced")
        thread_id = await start_thread(http, account.headers)
        logs = io.StringIO()
        configure_logging(LoggingSettings(log_format="json", log_level="INFO", _env_file=None), stream=logs)
        try:
            response = await http.post(
                f"/threads/{thread_id}/runs/wait?token=not-for-traces",
                json={"assistant_id": assistant_id, "input": {"messages": [{"role": "user", "content": "6 times 7?"}]}},
                headers=account.headers,
            )
            assert response.status_code == 200, response.text
            assert [m["content"] for m in response.json()["messages"] if m["type"] == "tool"] == ["42"]
            await otlp.wait_for("run agent", "execute_tool calculator")
        finally:
            configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
        runs = (await http.get(f"/threads/{thread_id}/runs", headers=account.headers)).json()

    request = only([s for s in otlp.spans if s.kind == SERVER and s.name == "POST /threads/{thread_id}/runs/wait"])
    assert request.attributes["http.route"] == "/threads/{thread_id}/runs/wait"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["url.query"] == "token=REDACTED"
    # The request's context travelled with the run's row through the queue, not through this process's memory.
    (run_row,) = runs
    assert run_row["kwargs"]["trace_context"]["traceparent"].startswith(f"00-{request.trace_id}-{request.span_id}-")

    run = only(otlp.named("run agent"))
    assert (run.kind, run.trace_id, run.parent_id) == (CONSUMER, request.trace_id, request.span_id)
    assert run.attributes["loopdesk.run_id"] == run_row["run_id"] and run.attributes["loopdesk.run.attempt"] == 1
    assert run.attributes["loopdesk.thread_id"] == thread_id and not run.error
    ours = [s for s in otlp.spans if s.trace_id == request.trace_id]
    nodes = [s for s in ours if s.name.startswith("node ")]
    assert sorted(s.name for s in nodes) == ["node agent", "node agent", "node tools"]  # model, tool, model
    assert all(s.parent_id == run.span_id for s in nodes)
    agent_nodes = {s.span_id for s in nodes if s.name == "node agent"}

    models = [s for s in ours if s.name.startswith("chat ")]
    assert len(models) == 2 and {s.parent_id for s in models} == agent_nodes
    for model in models:
        assert model.attributes["gen_ai.provider.name"] == "scripted"
        assert model.attributes["gen_ai.usage.input_tokens"] > 0 and model.attributes["gen_ai.usage.output_tokens"] > 0

    tool = only(otlp.named("execute_tool calculator"))
    assert tool.trace_id == request.trace_id and tool.parent_id == only(otlp.named("node tools")).span_id
    assert tool.attributes["gen_ai.tool.name"] == "calculator" and tool.attributes["loopdesk.tool.outcome"] == "ok"
    assert tool.attributes["loopdesk.tool.source"] == "python"
    assert tool.attributes["loopdesk.tool.side_effect"] == "read" and not tool.error

    assert {s.resource["service.name"] for s in ours} == {"loopdesk"}
    exported = repr(otlp.spans)  # names, ids and outcomes only: no prompt, argument, answer or credential
    for secret in ("6 times 7", "6*7", "It is 42", "not-for-traces", account.token):
        assert secret not in exported

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    created = next(line for line in lines if line["event"] == "runs.created")
    finished = next(line for line in lines if line["event"] == "runs.finished")  # logged by the worker
    assert created["trace_id"] == finished["trace_id"] == request.trace_id
    assert finished["span_id"] == run.span_id


async def test_with_tracing_off_no_tracer_is_set_up_and_nothing_is_exported(
    settings: Settings, otlp: OtlpReceiver
) -> None:
    settings.tracing = TracingSettings(otel_endpoint=otlp.url, _env_file=None)  # enabled is false by default
    async with served(settings) as http:
        assert not tracing.enabled()
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # OpenTelemetry's unset default
        account = await register_account(http, "untraced")
        response = await http.post(
            "/runs/wait", json={"assistant_id": "echo", "input": {"messages": ["hi"]}}, headers=account.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["messages"] == ["hi", "echo: hi"]
        thread_id = response.headers["content-location"].split("/")[2]
        (run_row,) = (await http.get(f"/threads/{thread_id}/runs", headers=account.headers)).json()
    assert "trace_context" not in run_row["kwargs"]
    tracing.flush_tracing()
    assert otlp.posts == 0 and otlp.spans == []


async def test_outbound_http_gets_a_client_span_without_its_query(otlp: OtlpReceiver) -> None:
    tracing.configure_tracing(TracingSettings(otel_enabled=True, otel_endpoint=otlp.url, _env_file=None), role="api")
    try:
        async with safe_client(OutboundPolicy.from_allowlist(["127.0.0.1"])) as client:
            response = await client.get(f"{otlp.url}/v1/traces?api_key=k-123")
        await otlp.wait_for("GET")
    finally:
        tracing.shutdown_tracing()
    span = only(otlp.named("GET"))
    assert response.status_code == 501  # the receiver answers POST only
    assert span.kind == CLIENT and span.error
    assert span.attributes["url.full"] == f"{otlp.url}/v1/traces"
    assert span.attributes["server.address"] == "127.0.0.1" and span.attributes["http.response.status_code"] == 501
    assert "k-123" not in repr(span)


@pytest.mark.parametrize("endpoint", ["file:///etc/passwd", "ftp://collector:21", "collector:4318", "http://"])
def test_an_exporter_endpoint_that_is_not_an_http_url_is_refused_at_start(endpoint: str, monkeypatch) -> None:
    monkeypatch.setenv("LOOPDESK_OTEL_ENDPOINT", endpoint)
    with pytest.raises(ValidationError, match="LOOPDESK_OTEL_ENDPOINT|otel_endpoint") as refused:
        TracingSettings(_env_file=None)
    assert "must be an http(s) URL" in str(refused.value)


@pytest.mark.e2e
async def test_serve_s_worker_child_process_continues_the_request_s_trace(
    settings: Settings, otlp: OtlpReceiver, monkeypatch
) -> None:
    """The child (`loopdesk worker`) sets up tracing from the environment it inherits, and exports as it stops."""
    monkeypatch.setenv("LOOPDESK_OTEL_ENABLED", "true")
    monkeypatch.setenv("LOOPDESK_OTEL_ENDPOINT", otlp.url)
    settings.tracing = TracingSettings(_env_file=None)
    try:
        async with served(settings, worker_process=True) as http:
            account = await register_account(http, "child")
            response = await http.post(
                "/runs/wait", json={"assistant_id": "echo", "input": {"messages": ["hi"]}}, headers=account.headers
            )
            assert response.status_code == 200, response.text
        await otlp.wait_for("run echo", "node echo", "POST /runs/wait")
    finally:
        tracing.shutdown_tracing()
    request = only(otlp.named("POST /runs/wait"))
    run = only(otlp.named("run echo"))
    assert run.resource["loopdesk.role"] == "worker" and request.resource["loopdesk.role"] == "api"
    assert (run.trace_id, run.parent_id) == (request.trace_id, request.span_id)
    assert only(otlp.named("node echo")).parent_id == run.span_id

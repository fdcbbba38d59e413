"""OpenTelemetry traces, off unless LOOPDESK_OTEL_ENABLED: one trace per run, from the HTTP request that created it
through the queue to the worker's graph nodes, model calls, tool calls and outbound HTTP, exported over OTLP/HTTP.

Run creation stores the request's W3C trace context with the run (`kwargs.trace_context`); the worker continues that
trace. The provider is this module's own, not installed as OpenTelemetry's global one, and spans carry no prompts,
arguments, results or keys: names, ids, counts and outcomes only. Off, every hook here is one `None` check."""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider

    from loopdesk.core.settings import TracingSettings
    from loopdesk.tools.base import ToolSpec

log = structlog.get_logger("loopdesk.tracing")

TRACE_CONTEXT_KEY = "trace_context"  # the run's kwargs key holding its creator's `traceparent`
# Never traced: probes and scrapes every few seconds, and WebSockets (a connection lives for hours and starts many
# runs, each of which is a trace of its own).
UNTRACED_PATHS = frozenset({"/metrics", "/api/v1/health"})
_SECRET_PARAMETER = ("password", "secret", "token", "key", "auth", "cookie", "sig", "credential", "code")
# Only `traceparent` travels with a run: W3C baggage may hold anything a client chose to send.
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer


_state: _Tracing | None = None


def enabled() -> bool:
    return _state is not None


def _exporter_url(endpoint: str) -> str:
    """The traces URL of an OTLP/HTTP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT means it), or the URL itself."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def configure_tracing(settings: TracingSettings, *, role: str) -> bool:
    """Set up this process's tracer when the settings turn tracing on (once: a second call changes nothing).
    `role`: `api` or `worker`, a resource attribute. True when tracing is on."""
    global _state
    if _state is not None or not settings.otel_enabled:
        return _state is not None
    from langchain_core.tracers.context import register_configure_hook
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from loopdesk import __version__

    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": __version__, "loopdesk.role": role}
    )
    sampler = ParentBased(TraceIdRatioBased(settings.otel_sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(_query_redactor())
    exporter = OTLPSpanExporter(endpoint=_exporter_url(settings.otel_endpoint), timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _state = _Tracing(provider, provider.get_tracer("loopdesk", __version__))
    _install_process_hooks(register_configure_hook)
    log.info(
        "tracing.enabled",
        endpoint=_without_credentials(_exporter_url(settings.otel_endpoint)),
        service_name=settings.otel_service_name,
        sample_ratio=settings.otel_sample_ratio,
        role=role,
    )
    return True


def flush_tracing(timeout_ms: int = 5000) -> None:
    """Export what is recorded so far (at a stop: the batch would otherwise wait for process exit)."""
    if _state is not None:
        _state.provider.force_flush(timeout_ms)


def shutdown_tracing() -> None:
    """Flush and stop the tracer; tracing is off afterwards (until configured again)."""
    global _state
    state, _state = _state, None
    if state is not None:
        state.provider.shutdown()


def fastapi_telemetry() -> dict[str, Any]:
    """`FastAPI(telemetry=...)`: FastAPI's own server span per HTTP request on our provider when tracing is on;
    else all of FastAPI's telemetry off, whatever providers or FASTAPI_OTEL_* variables other code sets. Its
    exception logs (messages and stack traces) and operation spans stay off either way."""
    off: dict[str, Any] = {"metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}
    if _state is None:
        return {**off, "tracing": False}
    return {**off, "tracing": True, "tracer_provider": _state.provider, "exclude": _untraced}


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope["type"] != "http" or scope.get("path") in UNTRACED_PATHS


def add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current span's trace and span id on every log line while tracing is on."""
    if _state is None:
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


# -- runs ------------------------------------------------------------------------------------------


def trace_carrier() -> dict[str, str] | None:
    """The current trace context (`traceparent`) for a run being created, or None (tracing off, no span)."""
    if _state is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier or None


def run_span(run_id: Any, thread_id: Any, kwargs: dict[str, Any], attempt: int) -> AbstractContextManager[None]:
    """The worker's span of one run attempt, a child of the span that created the run; the run's graph nodes and
    model calls are its children (a LangChain callback handler installed for the run)."""
    if _state is None:
        return nullcontext()
    return _run_span(_state.tracer, run_id, thread_id, kwargs, attempt)


@contextmanager
def _run_span(
    tracer: trace.Tracer, run_id: Any, thread_id: Any, kwargs: dict[str, Any], attempt: int
) -> Iterator[None]:
    carrier = kwargs.get(TRACE_CONTEXT_KEY)
    parent = _PROPAGATOR.extract(carrier) if isinstance(carrier, dict) else None
    graph_id = str(kwargs.get("graph_id"))
    attributes = {
        "loopdesk.run_id": str(run_id),
        "loopdesk.thread_id": str(thread_id),
        "loopdesk.graph_id": graph_id,
        "loopdesk.run.attempt": attempt,
    }
    span = tracer.start_span(f"run {graph_id}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
    handler = _handler_class()(tracer, span)
    token = _run_handler.set(handler)
    try:
        with trace.use_span(span, record_exception=False, set_status_on_exception=False):
            yield
    except asyncio.CancelledError:
        span.set_attribute("loopdesk.run.cancelled", True)  # cancelled, or handed back by a stopping worker
        raise
    except BaseException as exc:
        _failed(span, exc)
        raise
    finally:
        _run_handler.reset(token)
        handler.close()
        span.end()


def _failed(span: Span, exc: BaseException, description: str | None = None) -> None:
    """The exception's type only: its message may quote a prompt, a response or a URL with a key."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(StatusCode.ERROR, description or type(exc).__name__)


# -- tools and outbound HTTP -----------------------------------------------------------------------


def tool_span(spec: ToolSpec) -> AbstractContextManager[Any]:
    """One tool call (the registry's call path), current while the tool runs: its outbound HTTP nests under it."""
    if _state is None:
        return nullcontext()
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": spec.name,
        "loopdesk.tool.source": spec.source,
        "loopdesk.tool.source_id": spec.source_id,
        "loopdesk.tool.side_effect": spec.side_effect,
    }
    span = _state.tracer.start_span(f"execute_tool {spec.name}", context=_parent_context(), attributes=attributes)
    return trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False)


def tool_outcome(outcome: str) -> None:
    """The current tool call's outcome: ok, error (the tool said so), invalid, timeout or unavailable."""
    if _state is None:
        return
    span = trace.get_current_span()
    span.set_attribute("loopdesk.tool.outcome", outcome)
    if outcome != "ok":
        span.set_status(StatusCode.ERROR, outcome)


async def traced_request(request: Any, send: Callable[[Any], Awaitable[Any]]) -> Any:
    """`send(request)` (an httpx or httpx2 transport's) inside a client span: method, host, port, path and
    status; never the query or headers."""
    if _state is None:
        return await send(request)
    span = _client_span(_state.tracer, request)
    try:
        response = await send(request)
    except BaseException as exc:
        _failed(span, exc)
        span.end()
        raise
    _answered(span, response.status_code)
    return response


def traced_request_sync(request: Any, send: Callable[[Any], Any]) -> Any:
    if _state is None:
        return send(request)
    span = _client_span(_state.tracer, request)
    try:
        response = send(request)
    except BaseException as exc:
        _failed(span, exc)
        span.end()
        raise
    _answered(span, response.status_code)
    return response


def _client_span(tracer: trace.Tracer, request: Any) -> Span:
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    attributes = {
        "http.request.method": request.method,
        "server.address": url.host,
        "server.port": port,
        "url.full": str(url.copy_with(query=None, fragment=None)),
    }
    return tracer.start_span(request.method, context=_parent_context(), kind=SpanKind.CLIENT, attributes=attributes)


def _answered(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
    span.end()


def _query_redactor() -> Any:
    """A span processor that masks secret-looking query parameters of server spans (`?token=...`) at start."""
    from opentelemetry.sdk.trace import SpanProcessor

    class QueryRedactor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Context | None = None) -> None:
            query = (span.attributes or {}).get("url.query")
            if isinstance(query, str):
                span.set_attribute("url.query", redact_query(query))

    return QueryRedactor()


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "REDACTED" if any(s in k.lower() for s in _SECRET_PARAMETER) else v) for k, v in pairs])


# -- graph nodes and model calls (LangChain callbacks) ---------------------------------------------

# The run's handler: LangChain adds it to every callback manager configured while it is set (the run's graph).
_run_handler: contextvars.ContextVar[Any] = contextvars.ContextVar("loopdesk_trace_handler", default=None)
_hooks_installed = False


def _install_process_hooks(register_configure_hook: Callable[..., None]) -> None:
    """Once per process: LangChain looks for the run's handler, and the last batch leaves before the process."""
    global _hooks_installed
    if not _hooks_installed:
        register_configure_hook(_run_handler, True)
        atexit.register(shutdown_tracing)
        _hooks_installed = True


def _parent_context() -> Context | None:
    """Where a span started outside the callbacks (a tool call, a request) belongs: under the graph node or model
    call LangChain is running now, when only the run's own span is current; else under the current span."""
    handler = _run_handler.get()
    if handler is None or trace.get_current_span() is not handler.run:
        return None
    span = handler.enclosing()
    return trace.set_span_in_context(span) if span is not None else None


@functools.cache
def _handler_class() -> type:
    """Defined on first use: LangChain is imported only when tracing is on."""
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.runnables.config import var_child_runnable_config
    from langgraph.errors import GraphBubbleUp

    from loopdesk.llm.usage import response_usage

    class RunSpans(BaseCallbackHandler):
        """Spans of one run's graph nodes and model calls, each under its nearest traced LangChain ancestor.
        LangChain runs that are not traced are remembered (run id -> parent) until they end."""

        run_inline = True  # called in the caller's context: the run's span is current there
        raise_error = False

        def __init__(self, tracer: trace.Tracer, run: Span) -> None:
            self.tracer, self.run = tracer, run
            self.parents: dict[Any, Any] = {}
            self.spans: dict[Any, tuple[Span, str]] = {}  # run id -> (span, node name or "")
            self.models: dict[Any, Span] = {}  # parent run id -> the model call open under it

        def _nearest(self, run_id: Any) -> Span | None:
            for _ in range(100):
                if run_id is None:
                    return None
                if run_id in self.spans:
                    return self.spans[run_id][0]
                run_id = self.parents.get(run_id)
            return None

        def _start(self, name: str, parent_run_id: Any, attributes: dict[str, Any]) -> Span:
            parent = self._nearest(parent_run_id)
            context = trace.set_span_in_context(parent) if parent is not None else None
            return self.tracer.start_span(name, context=context, attributes=attributes)

        def enclosing(self) -> Span | None:
            config = var_child_runnable_config.get()
            run_id = getattr((config or {}).get("callbacks"), "parent_run_id", None)
            return self.models.get(run_id) or self._nearest(run_id)

        def _end(self, run_id: Any, error: BaseException | None = None) -> None:
            self.parents.pop(run_id, None)
            entry = self.spans.pop(run_id, None)
            if entry is None:
                return
            if error is not None and not isinstance(error, GraphBubbleUp):  # an interrupt is no failure
                _failed(entry[0], error)
            entry[0].end()

        def on_chain_start(
            self, serialized: Any, inputs: Any, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
        ) -> None:
            self.parents[run_id] = parent_run_id
            metadata = kwargs.get("metadata") or {}
            node = metadata.get("langgraph_node")
            if not node or kwargs.get("name") != node:
                return  # not a node: a runnable inside one (it inherits the node's metadata) or the graph itself
            parent = self.spans.get(parent_run_id)
            if parent is not None and parent[1] == node:  # a subgraph compiled under its node's name
                return
            attributes = {"langgraph.node": node, "langgraph.step": metadata.get("langgraph_step", -1)}
            self.spans[run_id] = (self._start(f"node {node}", parent_run_id, attributes), node)

        def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
            self._end(run_id)

        def on_chain_error(
            self, error: BaseException, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
        ) -> None:
            self._end(run_id, error)
            if parent_run_id is None and not isinstance(error, GraphBubbleUp):
                _failed(self.run, error)  # the graph failed: the run ends in error

        def on_tool_start(
            self, serialized: Any, input_str: str, *, run_id: Any, parent_run_id: Any = None, **_: Any
        ) -> None:
            self.parents[run_id] = parent_run_id

        def on_tool_end(self, output: Any, *, run_id: Any, **kwargs: Any) -> None:
            self.parents.pop(run_id, None)

        def on_tool_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
            self.parents.pop(run_id, None)

        def on_chat_model_start(
            self, serialized: Any, messages: Any, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
        ) -> None:
            self._model_start(run_id, parent_run_id, kwargs)

        def on_llm_start(
            self, serialized: Any, prompts: Any, *, run_id: Any, parent_run_id: Any = None, **kw: Any
        ) -> None:
            self._model_start(run_id, parent_run_id, kw)

        def _model_start(self, run_id: Any, parent_run_id: Any, kwargs: dict[str, Any]) -> None:
            metadata = kwargs.get("metadata") or {}
            params = kwargs.get("invocation_params") or {}
            provider = metadata.get("loopdesk_llm_provider") or metadata.get("ls_provider") or "unknown"
            model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name") or "unknown"
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": str(provider),
                "gen_ai.request.model": str(model),
            }
            span = self._start(f"chat {model}", parent_run_id, attributes)
            self.spans[run_id] = (span, "")
            self.parents[run_id] = parent_run_id
            if parent_run_id is not None:
                self.models[parent_run_id] = span

        def on_llm_end(self, response: Any, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any) -> None:
            entry = self.spans.get(run_id)
            if entry is not None:
                input_tokens, output_tokens, _total, answered_by = response_usage(response)
                entry[0].set_attributes(
                    {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
                )
                if answered_by:
                    entry[0].set_attribute("gen_ai.response.model", str(answered_by))
            self.models.pop(parent_run_id, None)
            self._end(run_id)

        def on_llm_error(self, error: BaseException, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any) -> None:
            self.models.pop(parent_run_id, None)
            self._end(run_id, error)

        def close(self) -> None:
            """At the run's end: spans whose end never came (a cancelled run) end with it."""
            for span, _ in self.spans.values():
                span.end()
            self.spans.clear()
            self.parents.clear()
            self.models.clear()

    return RunSpans

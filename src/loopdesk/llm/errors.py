"""Model failures: which are worth retrying, the retry policy that acts on it, and the circuit breaker each attempt
passes (core/breaker.py: a provider failing again and again is not called until it may be back)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anthropic
import httpx
import openai
import structlog
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.exceptions import ContextOverflowError, ModelError
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableLambda
from pydantic import Field, model_validator
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from loopdesk.core.breaker import Attempt, CircuitBreaker, CircuitOpen, Outcome, guarded

if TYPE_CHECKING:
    from loopdesk.llm.settings import LLMSettings

try:  # the transport of the current openai / anthropic SDKs; older ones use httpx itself
    import httpx2

    _HTTPX2: tuple[type[BaseException], ...] = (
        httpx2.TimeoutException,
        httpx2.NetworkError,
        httpx2.RemoteProtocolError,
    )
except ImportError:  # pragma: no cover
    _HTTPX2 = ()

log = structlog.get_logger("loopdesk.llm")

Classification = Literal["retryable", "fatal"]


class LLMConfigError(ValueError):
    """The model configuration cannot work; the message names what to set."""


_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# `error.type` / `code` values providers send for transient failures (Anthropic's 529 is "overloaded_error").
_RETRYABLE_TYPES = frozenset(
    {"overloaded_error", "rate_limit_error", "rate_limit_exceeded", "api_error", "server_error", "timeout_error"}
)
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "input is too long",
    "too many tokens",
)
_TRANSIENT: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    anthropic.APIConnectionError,
    anthropic.RetryableError,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    *_HTTPX2,
    TimeoutError,
    ConnectionError,
)


def classify(exc: BaseException) -> Classification:
    """`retryable`: the same request may succeed later; `fatal`: retrying cannot help."""
    return _classify(exc, depth=0)


def is_retryable(exc: BaseException) -> bool:
    return classify(exc) == "retryable"


def _classify(exc: BaseException, depth: int) -> Classification:
    if isinstance(exc, (LLMConfigError, ContextOverflowError)) or _refused_destination(exc):
        return "fatal"
    status = _status_code(exc)
    if status in _RETRYABLE_STATUS:
        return "retryable"
    if _is_context_overflow(exc):
        return "fatal"
    if status is not None:
        return "retryable" if status >= 500 else "fatal"
    if _error_types(exc) & _RETRYABLE_TYPES or isinstance(exc, _TRANSIENT + _lazy_transient()):
        return "retryable"
    if isinstance(exc, ModelError):
        return "retryable" if exc.is_retryable else "fatal"
    cause = exc.__cause__ or _google_retry_cause(exc)
    if cause is not None and depth < 3:  # `raise ... from exc`: judged by what really failed
        return _classify(cause, depth + 1)
    return "fatal"


def _refused_destination(exc: BaseException) -> bool:
    """The SSRF policy refused the provider's address (the SDK wraps it as a connection error): no retry helps."""
    from loopdesk.tools.net import UnsafeDestination

    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, UnsafeDestination):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def breaker_outcome(exc: Exception) -> Outcome:
    """What a failed model call says about the provider's circuit: a 5xx, a timeout or a lost connection is a failure;
    any 4xx (bad request, key, rate limit, a refusal) is the server answering; our own refusals say nothing."""
    if isinstance(exc, (LLMConfigError, CircuitOpen)) or _refused_destination(exc):
        return "ignore"
    seen: BaseException | None = exc
    for _ in range(4):  # the status of what really failed, through `raise ... from`
        if seen is None:
            break
        if (status := _status_code(seen)) is not None:
            return "failure" if status >= 500 else "success"
        seen = seen.__cause__
    return "failure" if classify(exc) == "retryable" else "ignore"


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status
    google = sys.modules.get("google.api_core.exceptions")
    if google is not None and isinstance(exc, google.GoogleAPICallError):  # gRPC errors carry `code`: HTTP status
        return exc.code if isinstance(exc.code, int) else None
    return None


# The Gemini client (google-api-core over gRPC, or requests for REST) loads on first use: its error types are
# looked up only once imported, so classifying never imports it (gRPC costs seconds at start-up).
def _lazy_transient() -> tuple[type[BaseException], ...]:
    requests = sys.modules.get("requests.exceptions")
    return (requests.ConnectionError, requests.Timeout) if requests is not None else ()


def _google_retry_cause(exc: BaseException) -> BaseException | None:
    google = sys.modules.get("google.api_core.exceptions")
    return exc.cause if google is not None and isinstance(exc, google.RetryError) else None


def _error_types(exc: BaseException) -> set[str]:
    body = getattr(exc, "body", None)
    found = {getattr(exc, "type", None), getattr(exc, "code", None)}
    for part in (body, body.get("error") if isinstance(body, dict) else None):
        if isinstance(part, dict):
            found.update((part.get("type"), part.get("code")))
    return {value for value in found if isinstance(value, str)}


def _is_context_overflow(exc: BaseException) -> bool:
    text = f"{exc} {getattr(exc, 'body', '')}".lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def _retry_after(exc: BaseException | None) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name)) * scale)
        except (TypeError, ValueError):
            continue
    return None


class _Policy:
    """Exponential backoff with jitter, never shorter than the server's Retry-After (capped at max_wait)."""

    def __init__(self, max_retries: int, initial_wait: float, max_wait: float) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._backoff = wait_exponential_jitter(multiplier=initial_wait, max=max_wait, jitter=initial_wait)

    def wait(self, state: RetryCallState) -> float:
        hinted = _retry_after(state.outcome.exception()) if state.outcome else None
        return min(self.max_wait, max(self._backoff(state), hinted or 0.0))

    def kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": self.wait,
            "retry": retry_if_exception(is_retryable),
            "reraise": True,
            "before_sleep": _log_retry,
        }


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "llm.retry",
        attempt=state.attempt_number,
        error=type(exc).__name__,
        status=_status_code(exc) if exc else None,
        wait_seconds=round(state.upcoming_sleep, 3),
    )


# The client's own retries are off (max_retries=0): this wrapper retries only `classify() == "retryable"`
# and, being a BaseChatModel, keeps bind_tools / streaming (a RunnableRetry from with_retry would lose both).
class RetryingChatModel(BaseChatModel):
    """Wraps a provider chat model with the retry policy; a stream is retried only before its first chunk.
    Every attempt passes the model's circuit breaker: an open circuit fails it with CircuitOpen (never retried)."""

    handles_retries: ClassVar[bool] = True
    inner: BaseChatModel
    max_retries: int = Field(3, ge=0)
    initial_wait: float = Field(0.5, ge=0)
    max_wait: float = Field(20.0, ge=0)
    breaker: CircuitBreaker | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _inner_streams(self) -> RetryingChatModel:
        if type(self.inner)._stream is BaseChatModel._stream:
            raise TypeError(f"{type(self.inner).__name__} cannot stream; wrap it with with_retries() instead")
        return self

    @property
    def _llm_type(self) -> str:
        return self.inner._llm_type

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self.inner._identifying_params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    def _get_invocation_params(self, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.inner._get_invocation_params(stop=stop, **kwargs)

    def _policy(self) -> _Policy:
        return _Policy(self.max_retries, self.initial_wait, self.max_wait)

    def _circuit(self) -> AbstractContextManager[Attempt]:
        return guarded(self.breaker, breaker_outcome)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        def attempt() -> ChatResult:
            with self._circuit():
                return self.inner._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

        return Retrying(**self._policy().kwargs())(attempt)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        async def attempt() -> ChatResult:
            with self._circuit():
                return await self.inner._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)

        return await AsyncRetrying(**self._policy().kwargs())(attempt)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        def start() -> tuple[ChatGenerationChunk | None, Iterator[ChatGenerationChunk]]:
            with self._circuit():  # the provider answered once the first chunk came
                chunks = self.inner._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
                return next(chunks, None), chunks

        first, rest = Retrying(**self._policy().kwargs())(start)
        if first is not None:
            yield first
            yield from rest

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async def start() -> tuple[ChatGenerationChunk | None, AsyncIterator[ChatGenerationChunk]]:
            with self._circuit():
                chunks = self.inner._astream(messages, stop=stop, run_manager=run_manager, **kwargs)
                return await anext(chunks, None), chunks

        first, rest = await AsyncRetrying(**self._policy().kwargs())(start)
        if first is not None:
            yield first
            async for chunk in rest:
                yield chunk

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        bound = self.inner.bind_tools(tools, tool_choice=tool_choice, **kwargs)
        if isinstance(bound, RunnableBinding) and bound.bound is self.inner:
            return self.bind(**bound.kwargs)  # the same request options, sent through the retrying wrapper
        return _retry_runnable(_through_circuit(bound, self.breaker), self.max_retries, self.max_wait)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        runnable = self.inner.with_structured_output(schema, **kwargs)
        return _retry_runnable(_through_circuit(runnable, self.breaker), self.max_retries, self.max_wait)


def _through_circuit(runnable: Runnable[Any, Any], breaker: CircuitBreaker | None) -> Runnable[Any, Any]:
    """`runnable` (built on the inner model, so past the wrapper's own methods) with each call through the circuit;
    it answers whole (a structured answer is parsed whole anyway)."""
    if breaker is None:
        return runnable

    def invoke(value: Any, config: Any) -> Any:
        with guarded(breaker, breaker_outcome):
            return runnable.invoke(value, config)

    async def ainvoke(value: Any, config: Any) -> Any:
        with guarded(breaker, breaker_outcome):
            return await runnable.ainvoke(value, config)

    return RunnableLambda(invoke, afunc=ainvoke, name=runnable.get_name())


def with_retries(
    runnable: Runnable[Any, Any],
    settings: LLMSettings | None = None,
    *,
    max_retries: int | None = None,
    max_wait: float = 20.0,
) -> Runnable[Any, Any]:
    """`runnable` (e.g. a model after bind_tools) retried on retryable errors only, `llm_max_retries` times.

    Models from the factory already retry (and local ones have nothing to retry): those come back unchanged,
    so applying this twice never multiplies attempts. Others back off 1 s, 2 s, 4 s... (+ jitter, <= max_wait)."""
    inner = runnable
    while isinstance(inner, RunnableBinding):
        inner = inner.bound
    if getattr(type(inner), "handles_retries", False):
        return runnable
    if max_retries is None:
        max_retries = settings.llm_max_retries if settings is not None else 3
    return _retry_runnable(runnable, max_retries, max_wait)


def _retry_runnable(runnable: Runnable[Any, Any], max_retries: int, max_wait: float) -> Runnable[Any, Any]:
    return runnable.with_retry(
        retry_if_exception_type=is_retryable,
        stop_after_attempt=max_retries + 1,
        wait_exponential_jitter=True,
        exponential_jitter_params={"max": max_wait, "jitter": min(1.0, max_wait)},
    )

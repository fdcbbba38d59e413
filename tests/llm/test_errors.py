"""classify() on the exception objects the provider SDKs and HTTP clients really raise."""

from __future__ import annotations

import anthropic
import httpx
import httpx2
import openai
import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableLambda
from langchain_openai.chat_models.base import OpenAIContextOverflowError, OpenAIRateLimitError

from loopdesk.llm.errors import LLMConfigError, classify, is_retryable, with_retries

URL = "https://api.example.com/v1/chat/completions"


def _response(status: int, body: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body or {}, request=httpx2.Request("POST", URL))


def _openai(cls: type[openai.APIStatusError], status: int, message: str = "failed", body: dict | None = None):
    return cls(message, response=_response(status, body), body=body)


def _anthropic(cls: type[anthropic.APIStatusError], status: int, body: dict | None = None):
    return cls("failed", response=_response(status, body), body=body)


def _caused(exc: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("model node failed") from exc
    except RuntimeError as wrapped:
        return wrapped


REQUEST = httpx2.Request("POST", URL)
RETRYABLE = {
    "openai-timeout": openai.APITimeoutError(request=REQUEST),
    "openai-connection": openai.APIConnectionError(request=REQUEST),
    "openai-429": _openai(openai.RateLimitError, 429),
    "langchain-openai-429": _openai(OpenAIRateLimitError, 429),
    "openai-408": _openai(openai.APIStatusError, 408),
    "openai-409": _openai(openai.ConflictError, 409),
    "openai-500": _openai(openai.InternalServerError, 500),
    "openai-503": _openai(openai.InternalServerError, 503),
    "openai-stream-server-error": openai.APIError("stream failed", REQUEST, body={"type": "server_error"}),
    "anthropic-529-overloaded": _anthropic(anthropic.OverloadedError, 529, {"error": {"type": "overloaded_error"}}),
    "anthropic-429": _anthropic(anthropic.RateLimitError, 429),
    "anthropic-timeout": anthropic.APITimeoutError(request=REQUEST),
    "anthropic-connection": anthropic.APIConnectionError(request=REQUEST),
    "anthropic-stream-overloaded": anthropic.APIError("Overloaded", REQUEST, body={"type": "overloaded_error"}),
    "httpx-connect-timeout": httpx.ConnectTimeout("timed out"),
    "httpx-read-timeout": httpx.ReadTimeout("timed out"),
    "httpx-connect-error": httpx.ConnectError("refused"),
    "httpx-disconnected": httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "httpx-502": httpx.HTTPStatusError(
        "bad gateway",
        request=httpx.Request("POST", URL),
        response=httpx.Response(502, request=httpx.Request("POST", URL)),
    ),
    "httpx2-read-timeout": httpx2.ReadTimeout("timed out"),
    "builtin-timeout": TimeoutError(),
    "builtin-connection-reset": ConnectionResetError(),
    "wrapped-timeout": _caused(openai.APITimeoutError(request=REQUEST)),
}
FATAL = {
    "openai-400": _openai(openai.BadRequestError, 400),
    "openai-401": _openai(openai.AuthenticationError, 401),
    "openai-403": _openai(openai.PermissionDeniedError, 403),
    "openai-404": _openai(openai.NotFoundError, 404),
    "openai-422": _openai(openai.UnprocessableEntityError, 422),
    "openai-context-length": _openai(
        openai.BadRequestError,
        400,
        "This model's maximum context length is 8192 tokens",
        {"error": {"code": "context_length_exceeded"}},
    ),
    "langchain-context-overflow": _openai(OpenAIContextOverflowError, 400, "context_length_exceeded"),
    "context-length-on-a-5xx": _openai(openai.InternalServerError, 500, "prompt is too long: 210000 tokens"),
    "core-context-overflow": ContextOverflowError("too long"),
    "anthropic-400": _anthropic(anthropic.BadRequestError, 400, {"error": {"type": "invalid_request_error"}}),
    "anthropic-401": _anthropic(anthropic.AuthenticationError, 401),
    "anthropic-404": _anthropic(anthropic.NotFoundError, 404),
    "httpx-404": httpx.HTTPStatusError(
        "not found",
        request=httpx.Request("POST", URL),
        response=httpx.Response(404, request=httpx.Request("POST", URL)),
    ),
    "config": LLMConfigError("set LOOPDESK_LLM_MODEL"),
    "programming-error": ValueError("bad argument"),
    "wrapped-401": _caused(_openai(openai.AuthenticationError, 401)),
}


@pytest.mark.parametrize("exc", RETRYABLE.values(), ids=RETRYABLE.keys())
def test_transient_failures_are_retryable(exc: BaseException):
    assert classify(exc) == "retryable"
    assert is_retryable(exc)


@pytest.mark.parametrize("exc", FATAL.values(), ids=FATAL.keys())
def test_request_and_configuration_failures_are_fatal(exc: BaseException):
    assert classify(exc) == "fatal"
    assert not is_retryable(exc)


def test_with_retries_retries_only_retryable_errors():
    calls: list[str] = []

    def flaky(text: str) -> str:
        calls.append(text)
        if len(calls) < 3:
            raise openai.APITimeoutError(request=REQUEST)
        return text.upper()

    assert with_retries(RunnableLambda(flaky), max_retries=3, max_wait=0.01).invoke("ok") == "OK"
    assert len(calls) == 3

    def unauthorised(text: str) -> str:
        calls.append(text)
        raise _openai(openai.AuthenticationError, 401)

    calls.clear()
    with pytest.raises(openai.AuthenticationError):
        with_retries(RunnableLambda(unauthorised), max_retries=3, max_wait=0.01).invoke("no")
    assert len(calls) == 1


def test_an_error_raised_while_handling_a_timeout_is_judged_on_its_own():
    try:
        try:
            raise openai.APITimeoutError(request=REQUEST)
        except openai.APITimeoutError:
            raise KeyError("bug in the handler") from None
    except KeyError as exc:
        assert classify(exc) == "fatal"


def test_the_retrying_model_needs_a_streaming_model():
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from loopdesk.llm import RetryingChatModel, ScriptedChatModel

    class NoStream(FakeListChatModel):
        _stream = BaseChatModel._stream

    with pytest.raises(TypeError, match="cannot stream"):
        RetryingChatModel(inner=NoStream(responses=["x"]))
    wrapped = RetryingChatModel(inner=ScriptedChatModel.load([{"content": "hello"}]))
    assert wrapped.invoke("hi").content == "hello" and wrapped._llm_type == "scripted"

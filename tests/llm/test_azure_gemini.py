"""Azure OpenAI and Google Gemini through build_chat_model / describe, and how the Gemini client's errors classify.
The live tests run only where their keys are configured."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
from google.ai.generativelanguage_v1beta.types import Candidate, Content, GenerateContentResponse, Part
from google.api_core import exceptions as google_errors
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_google_genai.chat_models import ChatGoogleGenerativeAIError
from langchain_openai import AzureChatOpenAI

from loopdesk.llm import LLMConfigError, LLMSettings, RetryingChatModel, classify
from loopdesk.llm.factory import AZURE_API_VERSION, GEMINI_URL, build_chat_model, describe
from tests.llm.test_retry_http import FakeProvider

ENDPOINT = "https://contoso.openai.azure.com"
# Read before the fixture below clears the environment, so the live tests can put them back.
LIVE = {
    name: os.environ.get(name)
    for name in (
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "OPENAI_API_VERSION",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GEMINI_MODEL",
    )
}
CLEARED = (
    *LIVE,
    "OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_BASE",
    "OPENAI_BASE_URL",
    "TONGYI_API_KEY",
    "TONGYI_MODEL_NAME",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(("LOOPDESK_LLM_", "LOOPDESK_AZURE_")):
            monkeypatch.delenv(name)


def _settings(**values: Any) -> LLMSettings:
    return LLMSettings(_env_file=None, **values)


def _inner(model: Any) -> Any:
    assert isinstance(model, RetryingChatModel)
    return model.inner


# Azure OpenAI


def test_azure_reads_its_endpoint_deployment_version_and_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
    model = build_chat_model("azure:prod-gpt-4o", _settings(llm_timeout_seconds=12, llm_temperature=0.2))
    chat = _inner(model)
    assert isinstance(chat, AzureChatOpenAI)
    assert (chat.azure_endpoint, chat.deployment_name, chat.openai_api_version, chat.model_name) == (
        ENDPOINT,
        "prod-gpt-4o",
        AZURE_API_VERSION,
        "prod-gpt-4o",
    )
    assert chat.openai_api_key.get_secret_value() == "azure-secret-key"
    assert (chat.request_timeout, chat.max_retries, chat.stream_usage, chat.temperature) == (12, 0, True, 0.2)
    assert chat.root_client.max_retries == 0 and str(chat.root_client.base_url).startswith(ENDPOINT)
    assert model.max_retries == 3 and model.metadata["loopdesk_llm_provider"] == "azure"
    assert "azure-secret-key" not in repr(model) + str(model)


def test_azure_settings_win_over_the_standard_variables(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://from-env.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("LOOPDESK_LLM_PROVIDER", "azure")
    monkeypatch.setenv("LOOPDESK_LLM_MODEL", "support-deployment")
    monkeypatch.setenv("LOOPDESK_LLM_API_KEY", "settings-key")
    monkeypatch.setenv("LOOPDESK_AZURE_OPENAI_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("LOOPDESK_AZURE_OPENAI_API_VERSION", "2025-01-01-preview")
    settings = LLMSettings(_env_file=None)
    chat = _inner(build_chat_model(None, settings))
    assert (chat.azure_endpoint, chat.deployment_name, chat.openai_api_version) == (
        ENDPOINT,
        "support-deployment",
        "2025-01-01-preview",
    )
    assert chat.openai_api_key.get_secret_value() == "settings-key"
    monkeypatch.delenv("LOOPDESK_AZURE_OPENAI_API_VERSION")
    assert _inner(build_chat_model(None, LLMSettings(_env_file=None))).openai_api_version == "2024-06-01"
    monkeypatch.setenv("LOOPDESK_LLM_BASE_URL", "https://override.openai.azure.com")
    assert _inner(build_chat_model(None, LLMSettings(_env_file=None))).azure_endpoint == (
        "https://override.openai.azure.com"
    )


def test_an_azure_ad_token_in_the_environment_does_not_replace_the_key(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "ad-token")
    settings = _settings(llm_provider="azure", llm_api_key="k", azure_openai_endpoint=ENDPOINT)
    chat = _inner(build_chat_model("azure:d", settings))
    assert chat.azure_ad_token is None and chat.root_client.api_key == "k"


def test_a_per_assistant_azure_dict_names_endpoint_deployment_and_version(monkeypatch):
    monkeypatch.setenv("TEAM_AZURE_KEY", "team-key")
    spec = {
        "provider": "azure",
        "model": "gpt-4o",
        "deployment": "team-4o",
        "api_version": "2024-08-01-preview",
        "base_url": "https://team.openai.azure.com",
        "api_key_env": "TEAM_AZURE_KEY",
        "timeout": 7,
        "max_retries": 1,
    }
    model = build_chat_model(spec, _settings(llm_provider="qwen", llm_api_key="qwen-key"))
    chat = _inner(model)
    assert (chat.azure_endpoint, chat.deployment_name, chat.openai_api_version, chat.model_name) == (
        "https://team.openai.azure.com",
        "team-4o",
        "2024-08-01-preview",
        "gpt-4o",
    )
    assert (chat.openai_api_key.get_secret_value(), chat.request_timeout, model.max_retries) == ("team-key", 7, 1)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    plain = _inner(build_chat_model({"provider": "azure_openai", "model": "m", "base_url": ENDPOINT}, _settings()))
    assert (plain.azure_endpoint, plain.deployment_name, plain.openai_api_key.get_secret_value()) == (
        ENDPOINT,
        "m",
        "azure-key",
    )


def test_describing_azure_shows_the_endpoint_and_deployment_never_the_key(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-key")
    settings = _settings(azure_openai_endpoint=f"https://user:pw-secret@{ENDPOINT.removeprefix('https://')}")
    described = describe({"provider": "azure", "model": "gpt-4o", "deployment": "prod"}, settings)
    assert described == {
        "provider": "azure",
        "model": "gpt-4o",
        "base_url": ENDPOINT,
        "deployment": "prod",
        "api_version": AZURE_API_VERSION,
        "api_key_configured": True,
    }
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    assert describe("azure:prod", _settings())["api_key_configured"] is False  # never raises for what is missing
    assert "azure-secret-key" not in str(describe("azure:prod", settings))


@pytest.mark.parametrize(
    ("spec", "values", "names"),
    [
        ("azure:prod", {"llm_api_key": "k"}, ["needs an endpoint", "LOOPDESK_AZURE_OPENAI_ENDPOINT", "base_url"]),
        (
            "azure",
            {"llm_api_key": "k", "azure_openai_endpoint": ENDPOINT},
            ["needs a deployment", "LOOPDESK_LLM_MODEL"],
        ),
        ("azure:prod", {"azure_openai_endpoint": ENDPOINT}, ["LOOPDESK_LLM_API_KEY or AZURE_OPENAI_API_KEY"]),
        ({"provider": "azure", "model": "m", "base_url": "contoso.openai.azure.com"}, {}, ["must start with http"]),
        ({"provider": "azure", "model": "m", "api_version": 2024}, {}, ["'api_version' must be a string"]),
    ],
)
def test_azure_configuration_errors_name_what_to_set(spec, values, names):
    with pytest.raises(LLMConfigError) as caught:
        build_chat_model(spec, _settings(**values))
    for name in names:
        assert name in str(caught.value)


def test_azure_against_a_local_server_sends_deployment_version_and_key_and_only_the_wrapper_retries(monkeypatch):
    monkeypatch.setenv("LOOPDESK_NET_ALLOWLIST", "127.0.0.1")  # a private endpoint must be allow-listed
    server = FakeProvider([429, "ok"])
    try:
        settings = _settings(llm_provider="azure", llm_api_key="azure-wire-key", azure_openai_endpoint=server.url)
        model = build_chat_model("azure:prod-4o", settings).model_copy(update={"initial_wait": 0.01, "max_wait": 0.05})
        assert model.invoke("ping").content == "pong"
    finally:
        server.close()
    assert len(server.requests) == 2
    first = server.requests[0]
    assert first["path"] == f"/openai/deployments/prod-4o/chat/completions?api-version={AZURE_API_VERSION}"
    assert first["headers"]["api-key"] == "azure-wire-key"
    assert {r["headers"]["x-stainless-retry-count"] for r in server.requests} == {"0"}


@pytest.mark.skipif(
    not (LIVE["AZURE_OPENAI_API_KEY"] and LIVE["AZURE_OPENAI_ENDPOINT"]),
    reason="set AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT (and AZURE_OPENAI_DEPLOYMENT) for the live Azure test",
)
def test_azure_live_call(monkeypatch):
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        if LIVE[name]:
            monkeypatch.setenv(name, LIVE[name])
    model = build_chat_model(f"azure:{LIVE['AZURE_OPENAI_DEPLOYMENT'] or 'gpt-4o-mini'}", _settings())
    reply = model.invoke("Reply with the single word: pong")
    assert "pong" in reply.text.lower()
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0


# Google Gemini


def test_gemini_reads_its_key_and_never_retries_in_the_client(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-secret-key")
    model = build_chat_model("gemini:gemini-2.5-flash", _settings(llm_timeout_seconds=9, llm_temperature=0.1))
    chat = _inner(model)
    assert isinstance(chat, ChatGoogleGenerativeAI)
    assert (chat.model, chat.timeout, chat.max_retries, chat.temperature) == ("models/gemini-2.5-flash", 9, 0, 0.1)
    assert chat.google_api_key.get_secret_value() == "gemini-secret-key"
    assert chat.base_url is None  # the client's own endpoint
    assert model.max_retries == 3 and model.metadata["loopdesk_llm_provider"] == "gemini"
    assert "gemini-secret-key" not in repr(model) + str(model)
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")  # the integration's own order: GOOGLE_API_KEY first
    assert _inner(build_chat_model("google:gemini-2.5-pro", _settings())).google_api_key.get_secret_value() == (
        "google-key"
    )


def test_gemini_from_settings_and_a_per_assistant_dict(monkeypatch):
    settings = _settings(llm_provider="gemini", llm_model="gemini-2.5-flash", llm_api_key="settings-key")
    chat = _inner(build_chat_model(None, settings))
    assert (chat.model, chat.google_api_key.get_secret_value()) == ("models/gemini-2.5-flash", "settings-key")
    monkeypatch.setenv("TEAM_GEMINI_KEY", "team-key")
    spec = {
        "provider": "gemini",
        "model": "gemini-2.5-pro",
        "api_key_env": "TEAM_GEMINI_KEY",
        "base_url": "https://gemini-proxy.example.com",
        "timeout": 5,
        "max_retries": 1,
    }
    model = build_chat_model(spec, settings)
    chat = _inner(model)
    assert (chat.model, chat.google_api_key.get_secret_value(), chat.timeout, model.max_retries) == (
        "models/gemini-2.5-pro",
        "team-key",
        5,
        1,
    )
    assert chat.base_url == "https://gemini-proxy.example.com"


def test_only_the_wrapper_retries_gemini_failures(monkeypatch):
    calls: list[Any] = []

    class RateLimitedClient:
        def generate_content(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            raise google_errors.ResourceExhausted("quota exceeded")

    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    model = build_chat_model({"provider": "gemini", "model": "gemini-2.5-flash", "max_retries": 1, "timeout": 4})
    model.inner.client = RateLimitedClient()
    with pytest.raises(google_errors.ResourceExhausted):
        model.model_copy(update={"initial_wait": 0.01, "max_wait": 0.02}).invoke("ping")
    assert len(calls) == 2  # one try by the client per attempt, one retry by RetryingChatModel
    assert calls[0]["timeout"] == 4


def _gemini_reply(text: str) -> GenerateContentResponse:
    return GenerateContentResponse(
        candidates=[
            Candidate(content=Content(parts=[Part(text=text)], role="model"), finish_reason=Candidate.FinishReason.STOP)
        ],
        usage_metadata=GenerateContentResponse.UsageMetadata(
            prompt_token_count=5, candidates_token_count=1, total_token_count=6
        ),
    )


def test_gemini_answers_and_streams_through_the_wrapper_after_a_transient_failure(monkeypatch):
    class FlakyClient:
        def __init__(self) -> None:
            self.calls = 0

        def _once_unavailable(self) -> None:
            self.calls += 1
            if self.calls % 2:
                raise google_errors.ServiceUnavailable("failed to connect to all addresses")

        def generate_content(self, **kwargs: Any) -> GenerateContentResponse:
            self._once_unavailable()
            return _gemini_reply("pong")

        def stream_generate_content(self, **kwargs: Any) -> Any:
            self._once_unavailable()
            return iter([_gemini_reply("po"), _gemini_reply("ng")])

    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    model = build_chat_model("gemini:gemini-2.5-flash", _settings())
    model.inner.client = client = FlakyClient()
    model = model.model_copy(update={"initial_wait": 0.01, "max_wait": 0.02})
    reply = model.invoke("ping")
    assert (reply.text, reply.usage_metadata["total_tokens"], client.calls) == ("pong", 6, 2)
    assert "".join(chunk.text for chunk in model.stream("ping")) == "pong" and client.calls == 4


def test_describing_gemini_shows_the_endpoint_never_the_key(monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "gemini-secret-key")
    assert describe("gemini:gemini-2.5-flash", _settings()) == {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "base_url": GEMINI_URL,
        "api_key_configured": True,
    }
    monkeypatch.delenv("GOOGLE_API_KEY")
    assert describe("google:gemini-2.5-flash", _settings())["api_key_configured"] is False


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("gemini:gemini-2.5-flash", ["LOOPDESK_LLM_API_KEY, GOOGLE_API_KEY or GEMINI_API_KEY"]),
        ("gemini", ["needs a model", "LOOPDESK_LLM_MODEL"]),
        ({"provider": "gemini", "model": "m", "api_key_env": "NO_SUCH_KEY"}, ["NO_SUCH_KEY"]),
    ],
)
def test_gemini_configuration_errors_name_what_to_set(monkeypatch, spec, names):
    if spec == "gemini":
        monkeypatch.setenv("GOOGLE_API_KEY", "k")
    with pytest.raises(LLMConfigError) as caught:
        build_chat_model(spec, _settings())
    for name in names:
        assert name in str(caught.value)


@pytest.mark.skipif(
    not (LIVE["GOOGLE_API_KEY"] or LIVE["GEMINI_API_KEY"]),
    reason="set GOOGLE_API_KEY or GEMINI_API_KEY for the live Gemini test",
)
def test_gemini_live_call(monkeypatch):
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
        if LIVE[name]:
            monkeypatch.setenv(name, LIVE[name])
    model = build_chat_model(f"gemini:{LIVE['GEMINI_MODEL'] or 'gemini-2.5-flash'}", _settings())
    reply = model.invoke("Reply with the single word: pong")
    assert "pong" in reply.text.lower()
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0


# What the Gemini client raises (google-api-core over gRPC; requests on the REST transport)


def _retry_timeout() -> google_errors.RetryError:
    try:
        raise google_errors.RetryError(
            "Timeout of 60.0s exceeded", google_errors.ServiceUnavailable("unavailable")
        ) from (google_errors.ServiceUnavailable("unavailable"))
    except google_errors.RetryError as exc:
        return exc


def _wrapped(exc: BaseException) -> ChatGoogleGenerativeAIError:
    try:
        raise ChatGoogleGenerativeAIError(f"Invalid argument provided to Gemini: {exc}") from exc
    except ChatGoogleGenerativeAIError as wrapped:
        return wrapped


GEMINI_RETRYABLE = {
    "429-resource-exhausted": google_errors.ResourceExhausted("Resource has been exhausted (e.g. check quota)."),
    "429-too-many-requests": google_errors.TooManyRequests("rate limited"),
    "500-internal": google_errors.InternalServerError("internal error"),
    "503-unavailable": google_errors.ServiceUnavailable("failed to connect to all addresses"),
    "504-deadline": google_errors.DeadlineExceeded("Deadline Exceeded"),
    "409-aborted": google_errors.Aborted("aborted"),
    "retry-timeout": _retry_timeout(),
    "retry-error-with-a-cause": google_errors.RetryError("exhausted", google_errors.ServiceUnavailable("down")),
    "rest-connection": requests.ConnectionError("connection refused"),
    "rest-read-timeout": requests.ReadTimeout("read timed out"),
}
GEMINI_FATAL = {
    "400-invalid-argument": google_errors.InvalidArgument("API key not valid. Please pass a valid API key."),
    "400-invalid-argument-wrapped": _wrapped(google_errors.InvalidArgument("Request contains an invalid argument.")),
    "400-failed-precondition": google_errors.FailedPrecondition("User location is not supported"),
    "401-unauthenticated": google_errors.Unauthenticated("Request had invalid authentication credentials."),
    "403-permission-denied": google_errors.PermissionDenied("Method doesn't allow unregistered callers."),
    "404-not-found": google_errors.NotFound("models/gemini-9 is not found"),
    "400-context-too-long": google_errors.InvalidArgument("The input token count exceeds the maximum number of tokens"),
    "integration-error": ChatGoogleGenerativeAIError("Unexpected message with type <class 'dict'>"),
}


@pytest.mark.parametrize("exc", GEMINI_RETRYABLE.values(), ids=GEMINI_RETRYABLE.keys())
def test_transient_gemini_failures_are_retryable(exc: BaseException):
    assert classify(exc) == "retryable"


@pytest.mark.parametrize("exc", GEMINI_FATAL.values(), ids=GEMINI_FATAL.keys())
def test_gemini_request_and_credential_failures_are_fatal(exc: BaseException):
    assert classify(exc) == "fatal"

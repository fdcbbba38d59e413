"""One way to get a chat model: `build_chat_model(spec, settings)` for every supported provider."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from loopdesk.core.breaker import Breakers, process_breakers
from loopdesk.core.settings import MODEL_SPEC_KEYS, OutboundSettings
from loopdesk.llm.errors import LLMConfigError, RetryingChatModel, with_retries
from loopdesk.llm.settings import PROVIDERS, LLMSettings
from loopdesk.system.llm_metrics import observed
from loopdesk.tools.net import OutboundPolicy, UnsafeDestination, check_url_blocking, safe_sdk_clients

__all__ = ["ModelSpec", "build_chat_model", "check_config_spec", "describe", "with_retries"]

ModelSpec = str | Mapping[str, Any] | None

DASHSCOPE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
OLLAMA_URL = "http://localhost:11434/v1"
GEMINI_URL = "https://generativelanguage.googleapis.com"
# Azure's GA API version; LOOPDESK_AZURE_OPENAI_API_VERSION or OPENAI_API_VERSION choose another.
AZURE_API_VERSION = "2024-10-21"
# Local servers ignore the key, but the OpenAI client refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class _Provider:
    kind: str  # "openai" (ChatOpenAI), "azure", "anthropic", "gemini", "scripted" or "offline"
    base_url: str | None = None
    key_envs: tuple[str, ...] = ()  # the provider's usual key variables, first set wins
    key_required: bool = False
    base_url_required: bool = False


_AZURE = _Provider("azure", key_envs=("AZURE_OPENAI_API_KEY",), key_required=True)
_GEMINI = _Provider("gemini", GEMINI_URL, ("GOOGLE_API_KEY", "GEMINI_API_KEY"), key_required=True)
_PROVIDERS: dict[str, _Provider] = {
    "openai": _Provider("openai", key_envs=("OPENAI_API_KEY",), key_required=True),
    "qwen": _Provider("openai", DASHSCOPE_URL, ("DASHSCOPE_API_KEY",), key_required=True),
    "dashscope": _Provider("openai", DASHSCOPE_URL, ("DASHSCOPE_API_KEY",), key_required=True),
    "openrouter": _Provider("openai", OPENROUTER_URL, ("OPENROUTER_API_KEY",), key_required=True),
    "ollama": _Provider("openai", OLLAMA_URL),
    "vllm": _Provider("openai", key_envs=("VLLM_API_KEY",), base_url_required=True),
    "azure": _AZURE,
    "azure_openai": _AZURE,
    "anthropic": _Provider("anthropic", key_envs=("ANTHROPIC_API_KEY",), key_required=True),
    "gemini": _GEMINI,
    "google": _GEMINI,
    "scripted": _Provider("scripted"),
    "offline": _Provider("offline"),
}
_SPEC_KEYS = MODEL_SPEC_KEYS
# Settings that reach the host's secrets or network: only operators set them (named models, LOOPDESK_LLM_*).
OPERATOR_ONLY_KEYS = frozenset({"base_url", "api_key_env"})


@dataclass(frozen=True)
class _Resolved:
    provider: str
    model: str | None
    base_url: str | None
    api_key_env: str | None
    settings_key: SecretStr | None
    temperature: float | None
    timeout: float
    max_retries: int
    script: Any
    deployment: str | None = None  # Azure only, like api_version
    api_version: str | None = None
    policy: OutboundPolicy = OutboundPolicy()

    @property
    def info(self) -> _Provider:
        return _PROVIDERS[self.provider]


def build_chat_model(
    spec: ModelSpec = None,
    settings: LLMSettings | None = None,
    *,
    operator: bool = True,
    policy: OutboundPolicy | None = None,
    breakers: Breakers | None = None,
) -> BaseChatModel:
    """A chat model from `None` (the settings), a named model, `"provider:model"` or a per-assistant dict.

    `operator=False` for a spec from an assistant's or a run's config: it may name a model, not give it a base URL,
    a key variable or a script file. Every request to the provider passes `policy` (default: LOOPDESK_NET_ALLOWLIST)
    and the model's circuit breaker in `breakers` (default: this process's, LOOPDESK_BREAKER_*)."""
    settings = settings or LLMSettings()
    resolved = _resolve(spec, settings, operator=operator, policy=policy)
    kind = resolved.info.kind
    if kind == "offline":
        from loopdesk.llm.offline import OfflineChatModel

        return observed(OfflineChatModel(), resolved.provider)
    if kind == "scripted":
        from loopdesk.llm.scripted import ScriptedChatModel

        if resolved.script is None:
            raise LLMConfigError(
                "provider 'scripted' needs a script: 'scripted:/path/script.yaml', LOOPDESK_LLM_MODEL=<path> "
                "or 'script' in the model config"
            )
        return observed(ScriptedChatModel.load(resolved.script), resolved.provider)
    # Both carry the handler: a call goes through one of them (the wrapper, or the inner model's structured output).
    inner = observed(_BUILDERS[kind](resolved), resolved.provider)
    wrapped = RetryingChatModel(
        inner=inner,
        max_retries=resolved.max_retries,
        breaker=(breakers or process_breakers()).get("llm", _circuit_target(spec, settings, resolved)),
        metadata={"loopdesk_llm_provider": resolved.provider},
        profile=inner.profile,
    )
    return observed(wrapped, resolved.provider)


def _circuit_target(spec: ModelSpec, settings: LLMSettings, resolved: _Resolved) -> str:
    """A named model's own circuit (its name: the operator's), else one per provider:model."""
    if isinstance(spec, str) and spec.strip() in settings.llm_models:
        return spec.strip()
    return f"{resolved.provider}:{resolved.model or resolved.deployment}"


def describe(spec: ModelSpec = None, settings: LLMSettings | None = None) -> dict[str, Any]:
    """Provider, model and endpoint for display: never a key (only whether one is configured)."""
    resolved = _resolve(spec, settings or LLMSettings(), operator=True, policy=OutboundPolicy())
    info: dict[str, Any] = {"provider": resolved.provider, "model": resolved.model}
    if resolved.info.kind == "scripted":
        script = resolved.script
        info["model"] = "scripted"
        info["script"] = str(script) if isinstance(script, str) and "\n" not in script else "inline"
    elif resolved.info.kind == "offline":
        info["model"] = "offline"
    else:
        info["base_url"] = _without_credentials(_base_url(resolved, check=False))
        if resolved.info.kind == "azure":
            info["deployment"] = resolved.deployment
            info["api_version"] = resolved.api_version
        info["api_key_configured"] = _api_key(resolved, check=False) is not None
    return info


def _resolve(spec: ModelSpec, settings: LLMSettings, *, operator: bool, policy: OutboundPolicy | None) -> _Resolved:
    fields: dict[str, Any]
    if isinstance(spec, str) and spec.strip() in settings.llm_models:
        spec, operator = settings.llm_models[spec.strip()], True  # a named model is the operator's own
    if spec is None:
        fields = {"provider": settings.llm_provider or "offline"}
    elif isinstance(spec, str):
        fields = _parse_string(spec)
    elif isinstance(spec, Mapping):
        fields = _parse_mapping(spec, settings)
    else:
        raise LLMConfigError(f"a model spec is a model name, 'provider:model' or a dict, not {type(spec).__name__}")
    if not operator:
        _check_caller_spec(spec, fields)
    provider = fields["provider"]
    same = provider == (settings.llm_provider or "offline")  # settings fill in only for their own provider
    model = fields.get("model") or (settings.llm_model if same else None)
    base_url = fields.get("base_url") or (settings.llm_base_url if same else None)
    azure: dict[str, Any] = {}
    if _PROVIDERS[provider].kind == "azure":  # the LOOPDESK_AZURE_* settings hold for every Azure model
        base_url = base_url or settings.azure_openai_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        azure["deployment"] = fields.get("deployment") or model
        azure["api_version"] = (
            fields.get("api_version")
            or settings.azure_openai_api_version
            or os.environ.get("OPENAI_API_VERSION")
            or AZURE_API_VERSION
        )
    return _Resolved(
        provider=provider,
        model=model,
        base_url=base_url,
        api_key_env=fields.get("api_key_env"),
        settings_key=settings.llm_api_key if same else None,
        temperature=_number(fields, "temperature", settings.llm_temperature),
        timeout=_number(fields, "timeout", settings.llm_timeout_seconds),
        max_retries=int(_number(fields, "max_retries", settings.llm_max_retries)),
        script=fields.get("script") or model,
        policy=policy or OutboundPolicy.from_allowlist(OutboundSettings().allowlist),
        **azure,
    )


def check_config_spec(spec: Any) -> None:
    """Refuse what a model spec from an assistant's or a run's config may not hold; a spec this cannot parse
    is left to the factory's own errors at run time."""
    if isinstance(spec, str):
        provider, _, model = spec.strip().partition(":")
        fields: dict[str, Any] = {"provider": provider, "model": model or None}
    elif isinstance(spec, Mapping):
        fields = dict(spec)
        model = fields.get("model")
        if not fields.get("provider") and isinstance(model, str) and ":" in model:
            fields["provider"], _, fields["model"] = model.partition(":")
    else:
        return
    _check_caller_spec(spec, fields)


def _check_caller_spec(spec: ModelSpec, fields: Mapping[str, Any]) -> None:
    """A model from an assistant's or a run's config names what to call, never where or with which secret."""
    if isinstance(spec, Mapping) and (given := sorted(OPERATOR_ONLY_KEYS & set(spec))):
        raise LLMConfigError(
            f"model config {given[0]!r} is operator configuration: define a named model (LOOPDESK_LLM_MODELS) "
            "with it and refer to the model by its name"
        )
    provider = _PROVIDERS.get(str(fields.get("provider") or "").strip().lower())
    script = fields.get("script") or fields.get("model")
    if provider is not None and provider.kind == "scripted" and isinstance(script, str) and "\n" not in script:
        raise LLMConfigError("a model script file is operator configuration: give the script's turns inline")


def _parse_string(spec: str) -> dict[str, Any]:
    text = spec.strip()
    provider, _, model = text.partition(":")
    provider = provider.strip().lower()
    _check_provider(provider, spec)
    return {"provider": provider, "model": model.strip() or None}


def _parse_mapping(spec: Mapping[str, Any], settings: LLMSettings) -> dict[str, Any]:
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise LLMConfigError(f"unknown model config keys {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    fields = dict(spec)
    for key in ("provider", "model", "base_url", "api_key_env", "deployment", "api_version"):
        if fields.get(key) is not None and not isinstance(fields[key], str):
            raise LLMConfigError(f"model config {key!r} must be a string, not {fields[key]!r}")
    provider = fields.get("provider")
    model = fields.get("model")
    if provider is None and isinstance(model, str) and model.partition(":")[0].lower() in _PROVIDERS:
        fields.update(_parse_string(model))  # {"model": "openai:gpt-4o-mini"} names its provider too
    elif provider is None:
        fields["provider"] = settings.llm_provider or "offline"
    else:
        fields["provider"] = str(provider).strip().lower()
        _check_provider(fields["provider"], str(provider))
    return fields


def _check_provider(provider: str, spec: str) -> None:
    if provider not in _PROVIDERS:
        raise LLMConfigError(
            f"unknown model provider {provider!r} in {spec!r}: use one of {', '.join(PROVIDERS)} "
            "(as 'provider:model', or LOOPDESK_LLM_PROVIDER)"
        )


def _number(fields: Mapping[str, Any], key: str, default: Any) -> Any:
    value = fields.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LLMConfigError(f"model config {key!r} must be a number, not {value!r}")
    if value < 0:
        raise LLMConfigError(f"model config {key!r} must not be negative")
    return value


def _require_model(resolved: _Resolved) -> str:
    if not resolved.model:
        raise LLMConfigError(
            f"provider {resolved.provider!r} needs a model: set LOOPDESK_LLM_MODEL, "
            f"or use '{resolved.provider}:<model>' / {{'provider': ..., 'model': ...}}"
        )
    return resolved.model


def _base_url(resolved: _Resolved, *, check: bool = True) -> str | None:
    url = resolved.base_url or resolved.info.base_url
    if url is None and resolved.info.base_url_required and check:
        raise LLMConfigError(
            f"provider {resolved.provider!r} needs a base URL: set LOOPDESK_LLM_BASE_URL "
            "(e.g. http://localhost:8000/v1) or 'base_url' in the model config"
        )
    if url is not None and check and urlsplit(url).scheme not in ("http", "https"):
        raise LLMConfigError(f"the base URL of provider {resolved.provider!r} must start with http:// or https://")
    return url


def _api_key(resolved: _Resolved, *, check: bool = True) -> SecretStr | None:
    if resolved.api_key_env:  # an assistant naming its own key variable is more specific than the settings
        value = os.environ.get(resolved.api_key_env)
        if not value and check:
            raise LLMConfigError(
                f"environment variable {resolved.api_key_env} (the model config's api_key_env) is unset"
            )
        return SecretStr(value) if value else None
    if resolved.settings_key is not None and resolved.settings_key.get_secret_value():
        return resolved.settings_key
    for env in resolved.info.key_envs:
        if os.environ.get(env):
            return SecretStr(os.environ[env])
    if resolved.info.key_required and check:
        *first, last = ("LOOPDESK_LLM_API_KEY", *resolved.info.key_envs)
        raise LLMConfigError(f"provider {resolved.provider!r} needs an API key: set {', '.join(first)} or {last}")
    return None


def _sampling(resolved: _Resolved) -> dict[str, Any]:
    """Client options every provider takes the same way (unset ones are left to the provider)."""
    return {"temperature": resolved.temperature} if resolved.temperature is not None else {}


def _build_openai(resolved: _Resolved) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    options = _sampling(resolved)
    return ChatOpenAI(
        model=_require_model(resolved),
        base_url=_base_url(resolved),
        api_key=_api_key(resolved) or SecretStr(_PLACEHOLDER_KEY),
        timeout=resolved.timeout,
        max_retries=0,
        stream_usage=True,
        **_http_clients(resolved),
        **options,
    )


def _http_clients(resolved: _Resolved) -> dict[str, Any]:
    """The SDK's requests go through the SSRF-safe transport: a base URL on a private network is refused
    unless LOOPDESK_NET_ALLOWLIST names it."""
    blocking, asynchronous = safe_sdk_clients(resolved.policy, timeout=resolved.timeout)
    return {"http_client": blocking, "http_async_client": asynchronous}


def _build_anthropic(resolved: _Resolved) -> BaseChatModel:
    from loopdesk.llm.anthropic import SafeChatAnthropic

    options = _sampling(resolved)
    if url := _base_url(resolved):
        options["base_url"] = url
    return SafeChatAnthropic(
        outbound_policy=resolved.policy,
        model=_require_model(resolved),
        api_key=_api_key(resolved),
        timeout=resolved.timeout,
        max_retries=0,
        stream_usage=True,
        **options,
    )


def _build_azure(resolved: _Resolved) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI

    endpoint = _base_url(resolved)
    if endpoint is None:
        raise LLMConfigError(
            f"provider {resolved.provider!r} needs an endpoint such as https://<resource>.openai.azure.com: "
            "set LOOPDESK_AZURE_OPENAI_ENDPOINT (or AZURE_OPENAI_ENDPOINT), LOOPDESK_LLM_BASE_URL "
            "or 'base_url' in the model config"
        )
    if not resolved.deployment:
        raise LLMConfigError(
            f"provider {resolved.provider!r} needs a deployment: set LOOPDESK_LLM_MODEL, "
            f"or use '{resolved.provider}:<deployment>' / {{'provider': ..., 'deployment': ...}}"
        )
    options = _sampling(resolved)
    return AzureChatOpenAI(
        **_http_clients(resolved),
        azure_endpoint=endpoint,
        azure_deployment=resolved.deployment,
        api_version=resolved.api_version,
        model=resolved.model or resolved.deployment,
        api_key=_api_key(resolved),
        azure_ad_token=None,  # AZURE_OPENAI_AD_TOKEN in the environment would silently replace the key
        timeout=resolved.timeout,
        max_retries=0,
        stream_usage=True,
        **options,
    )


def _build_gemini(resolved: _Resolved) -> BaseChatModel:
    from langchain_google_genai import ChatGoogleGenerativeAI  # ~1.5 s of imports (gRPC), paid only when used

    options = _sampling(resolved)
    if resolved.base_url:  # gRPC takes no transport of ours: the endpoint is checked against the policy instead
        options["base_url"] = _base_url(resolved)
        try:
            check_url_blocking(options["base_url"], resolved.policy)
        except UnsafeDestination as exc:
            raise LLMConfigError(f"the base URL of provider {resolved.provider!r} is refused: {exc}") from None
        except OSError:
            pass  # a host that does not resolve here is reached by no one
    # langchain-google-genai 3.x counts attempts here (0 and 1 both mean one); the gRPC layer under it still
    # retries 503 within the timeout, which the integration gives no way to turn off.
    return ChatGoogleGenerativeAI(
        model=_require_model(resolved),
        google_api_key=_api_key(resolved),
        timeout=resolved.timeout,
        max_retries=0,
        **options,
    )


_BUILDERS: dict[str, Callable[[_Resolved], BaseChatModel]] = {
    "openai": _build_openai,
    "azure": _build_azure,
    "anthropic": _build_anthropic,
    "gemini": _build_gemini,
}


def _without_credentials(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

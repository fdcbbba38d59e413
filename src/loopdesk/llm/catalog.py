"""The models an operator configured, as staff may see them: which provider and model each name calls, and on which
host. Never a key (only whether one is set), never a URL's path, user, password or query, where secrets can hide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from loopdesk.llm.errors import LLMConfigError
from loopdesk.llm.factory import ModelSpec, describe
from loopdesk.llm.settings import LLMSettings


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str | None  # None: the default model (LOOPDESK_LLM_PROVIDER / _MODEL)
    provider: str
    model: str | None
    endpoint: str | None
    api_key_configured: bool | None
    problem: str | None = None


def configured_models(settings: LLMSettings) -> tuple[ModelEntry, list[ModelEntry]]:
    """(the default model, the named models by name)."""
    named = [_entry(name, name, settings) for name in sorted(settings.llm_models)]
    return _entry(None, None, settings), named


def _entry(name: str | None, spec: ModelSpec, settings: LLMSettings) -> ModelEntry:
    declared: dict[str, Any] = settings.llm_models.get(name, {}) if name else {}
    try:
        info = describe(spec, settings)
    except (LLMConfigError, ValueError) as exc:
        # A ValueError is urllib's about a base URL's port, and quotes it: say less.
        problem = str(exc) if isinstance(exc, LLMConfigError) else "the base URL is not a valid URL"
        provider = str(declared.get("provider") or settings.llm_provider or "offline")
        return ModelEntry(name, provider, _text(declared.get("model")), None, None, problem=problem)
    return ModelEntry(
        name=name,
        provider=info["provider"],
        model=info.get("model"),
        endpoint=_origin(info.get("base_url")),
        api_key_configured=info.get("api_key_configured"),
    )


def _origin(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL: enough to tell which server, nothing that may carry a secret."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a URL one can name a server by (an IPv6 host that lost its brackets)
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None

"""`langgraph.json`: the project file the LangGraph CLI and server read, honoured as they do. Every key the
LangGraph CLI and server read is either honoured, accepted as a Docker-build setting that has no meaning
here, or refused at start with a message naming it: nothing is silently ignored."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigFileError(ValueError):
    """The config file cannot be used; the message says where and why."""


# Read by `langgraph build` / `dockerfile` only: they shape an image loopdesk does not build.
DOCKER_ONLY_KEYS = frozenset(
    {
        "$schema",  # the editor's JSON schema, not a setting
        "python_version",
        "node_version",
        "api_version",
        "base_image",
        "image_distro",
        "pip_config_file",
        "pip_installer",
        "source",
        "dockerfile_lines",
        "keep_pkg_tools",
        "_INTERNAL_docker_tag",
    }
)
_HONOURED = None  # a key loopdesk reads itself


@dataclass(frozen=True)
class _Fixed:
    """Accepted only with the value that describes what loopdesk already does; any other is refused."""

    value: Any
    reason: str


# key → _HONOURED, a _Fixed value, a nested policy (for an object), or why it is refused.
_KEY_POLICY: dict[str, Any] = {
    "graphs": _HONOURED,
    "env": _HONOURED,
    "dependencies": _HONOURED,
    "store": {
        "index": {"dims": _HONOURED, "embed": _HONOURED, "fields": _HONOURED},
        "ttl": "store defaults and TTL sweeping are not supported; give an item its `ttl` on PUT /store/items",
        "path": "a custom store is not supported: loopdesk's store is its PostgreSQL",
    },
    "auth": {
        "path": _HONOURED,
        "disable_studio_auth": _Fixed(True, "there is no LangSmith Studio authentication"),
        "allow_langsmith_api_keys": _Fixed(False, "LangSmith API keys are not accepted; use loopdesk API keys"),
        "openapi": "the OpenAPI document describes loopdesk's own credentials",
        "cache": "custom auth decisions are not cached",
    },
    "http": {
        "app": _HONOURED,
        "enable_custom_route_auth": _HONOURED,
        "middleware_order": _Fixed("auth_first", "a custom app's middleware runs after loopdesk's authentication"),
        "disable_ui": _Fixed(True, "there are no /ui routes"),
        "disable_mcp": _Fixed(True, "there are no Agent Protocol /mcp routes"),
        "disable_a2a": _Fixed(True, "there are no /a2a routes"),
        "disable_assistants": _Fixed(False, "the Agent Protocol routes cannot be turned off"),
        "disable_threads": _Fixed(False, "the Agent Protocol routes cannot be turned off"),
        "disable_runs": _Fixed(False, "the Agent Protocol routes cannot be turned off"),
        "disable_store": _Fixed(False, "the Agent Protocol routes cannot be turned off"),
        "disable_meta": _Fixed(False, "/ok, /info, /metrics and /docs cannot be turned off"),
        "disable_webhooks": _Fixed(False, "run webhooks cannot be turned off"),
        "cors": "CORS is configured by LOOPDESK_CORS_ORIGINS",
        "mount_prefix": "loopdesk serves at the root; put a path-rewriting proxy in front to move it",
        "configurable_headers": "request headers are not passed to runs",
        "logging_headers": "request headers are not logged",
    },
    "checkpointer": "loopdesk checkpoints to its PostgreSQL (LangGraph's Postgres saver); "
    "custom checkpointers, checkpoint TTLs and serde settings are not supported",
    "webhooks": "webhook targets are checked by loopdesk's network policy (LOOPDESK_NET_ALLOWLIST); "
    "URL policies and webhook headers are not supported",
    "encryption": "custom at-rest encryption is not supported",
    "priority": "custom run priorities are not supported",
    "ui": "generative UI components are not served",
}


def _check_keys(raw: dict[str, Any], policy: dict[str, Any], where: str = "") -> None:
    for key, value in raw.items():
        name = f"{where}{key}"
        if not where and key in DOCKER_ONLY_KEYS:
            continue
        if key not in policy:
            raise ConfigFileError(f"`{name}` is not a langgraph.json key loopdesk knows")
        rule = policy[key]
        if isinstance(rule, dict) and isinstance(value, dict):
            _check_keys(value, rule, f"{name}.")
        elif isinstance(rule, _Fixed) and value != rule.value:
            raise ConfigFileError(f"`{name}` can only be {json.dumps(rule.value)} with loopdesk: {rule.reason}")
        elif isinstance(rule, str) and value is not None:
            raise ConfigFileError(f"`{name}` is not supported by loopdesk: {rule}")


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the other keys passed _check_keys
    path: str | None = None


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: dict[str, Any] | None = None


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    app: str | None = None
    # LangGraph's server leaves custom routes open unless this is true; loopdesk guards them unless it is false.
    enable_custom_route_auth: bool = True


class LanggraphConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    graphs: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] | str | None = None
    dependencies: list[str] = Field(default_factory=list)
    store: StoreConfig | None = None
    auth: AuthConfig | None = None
    http: HttpConfig | None = None
    base_dir: Path = Path(".")

    @field_validator("graphs", mode="before")
    @classmethod
    def _graph_definitions(cls, graphs: Any) -> Any:
        """A graph is "path:attr" or, as the CLI also reads, {"path": "path:attr"}."""
        if not isinstance(graphs, dict):
            return graphs
        specs = {}
        for name, spec in graphs.items():
            if isinstance(spec, dict):
                if set(spec) - {"path"}:
                    extra = sorted(set(spec) - {"path"})[0]
                    raise ValueError(
                        f"graphs.{name}.{extra} is not supported by loopdesk (graph descriptions are not served)"
                    )
                spec = spec.get("path")
            specs[name] = spec
        return specs

    @field_validator("graphs")
    @classmethod
    def _graph_specs(cls, graphs: dict[str, str]) -> dict[str, str]:
        for name, spec in graphs.items():
            if not name or ":" not in spec:
                raise ValueError(f"graph {name!r}: expected './path.py:attribute' or 'module:attribute', got {spec!r}")
        return graphs

    def apply_environment(self) -> None:
        """Put `dependencies` on sys.path and `env` into os.environ (without overriding what is set)."""
        for dependency in self.dependencies:
            path = (self.base_dir / dependency).resolve()
            if path.is_dir() and str(path) not in sys.path:
                sys.path.insert(0, str(path))
        values: dict[str, str] = {}
        if isinstance(self.env, dict):
            values = self.env
        elif isinstance(self.env, str):
            values = _read_env_file(self.base_dir / self.env)
        for key, value in values.items():
            os.environ.setdefault(key, value)


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        raise ConfigFileError(f"env file {path} named in langgraph.json does not exist")
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def load_config(path: Path) -> LanggraphConfig:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigFileError(f"{path} not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path} must hold a JSON object")
    try:
        _check_keys(raw, _KEY_POLICY)
    except ConfigFileError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    try:
        return LanggraphConfig.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None

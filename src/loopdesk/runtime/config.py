"""`langgraph.json`: the project file the LangGraph CLI and server read, honoured as they do."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigFileError(ValueError):
    """The config file cannot be used; the message says where and why."""


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: str | None = None


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: dict[str, Any] | None = None
    ttl: dict[str, Any] | None = None


class LanggraphConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    graphs: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] | str | None = None
    dependencies: list[str] = Field(default_factory=list)
    store: StoreConfig | None = None
    auth: AuthConfig | None = None
    base_dir: Path = Path(".")

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
        return LanggraphConfig.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None

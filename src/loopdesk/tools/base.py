"""The one typed contract every tool source implements (Python plugins, MCP servers, OpenAPI imports).

A source lists `ToolSpec`s and executes calls by name. Arguments reach `call` already validated
against the spec's JSON schema (the registry does that, once, for every source). A failure of the
tool itself is a `ToolResult` with `is_error` (the model reads it); a source that cannot be reached
raises `ToolUnavailable` and reports it in `health()`."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson

SideEffect = Literal["read", "write", "destructive"]
ApprovalMode = Literal["auto", "require_approval", "deny"]
HealthStatus = Literal["ok", "unavailable"]

SIDE_EFFECTS: tuple[SideEffect, ...] = ("read", "write", "destructive")
MAX_NAME = 64
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def tool_name(*parts: str, limit: int = MAX_NAME) -> str:
    """A valid tool name from arbitrary text: runs of other characters become `_`, cut to `limit`."""
    name = "_".join(p for p in (_UNSAFE.sub("_", part).strip("_") for part in parts) if p)
    return (name or "tool")[:limit].rstrip("_") or "tool"


def default_mode(side_effect: SideEffect) -> ApprovalMode:
    """Without a policy: reads run, writes and destructive calls wait for a person."""
    return "auto" if side_effect == "read" else "require_approval"


class ToolError(Exception):
    """Base of the errors a source raises (anything else is a bug in the source)."""


class ToolNotFound(ToolError):
    pass


class ToolUnavailable(ToolError):
    """The source cannot be reached now (process died, server down, timed out)."""


class ToolPermissionError(ToolError):
    """A read-only binding named a tool that writes: refused where tools are bound, whatever a prompt says."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    side_effect: SideEffect
    source: str  # the source kind: python | mcp | openapi
    source_id: str  # which plugin module, server or import
    # A source may declare the mode a tool has without a policy (e.g. the agent's own memory tools).
    default_mode: ApprovalMode | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must be 1-{MAX_NAME} characters of A-Z a-z 0-9 _ -")
        if self.side_effect not in SIDE_EFFECTS:
            raise ValueError(f"tool {self.name!r}: side_effect must be one of {SIDE_EFFECTS}")
        if not isinstance(self.parameters, dict) or self.parameters.get("type", "object") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON schema of type object")

    @property
    def mode_without_policy(self) -> ApprovalMode:
        return self.default_mode or default_mode(self.side_effect)


@dataclass(frozen=True)
class ToolCallContext:
    """Who calls and the key that makes a retried call the same call (downstream idempotency)."""

    idempotency_key: str
    user_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class ToolResult:
    content: Any  # JSON-able: text, or structured data
    is_error: bool = False

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return orjson.dumps(self.content, default=str).decode()

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(message, is_error=True)


@dataclass
class SourceHealth:
    status: HealthStatus = "ok"
    detail: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ToolSource(ABC):
    """One source of tools. `start` never raises because the far side is down: it records that in
    `health()` and lists no tools until a `refresh` reaches it."""

    kind: ClassVar[str]

    def __init__(self, source_id: str):
        self.source_id = source_id
        self._health = SourceHealth()

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    def tools(self) -> list[ToolSpec]:
        """The tools as last listed (no I/O)."""

    @abstractmethod
    async def call(self, name: str, arguments: dict[str, Any], context: ToolCallContext) -> ToolResult:
        """Execute one call; raises ToolNotFound or ToolUnavailable, returns tool failures as results."""

    async def refresh(self) -> bool:
        """List the tools again; True when the list changed."""
        return False

    def health(self) -> SourceHealth:
        return self._health

    def _set_health(self, status: HealthStatus, detail: str | None = None) -> None:
        self._health = SourceHealth(status, detail)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and processes; calling it twice is harmless."""

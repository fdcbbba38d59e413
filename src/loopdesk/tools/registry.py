"""The tool registry of one process: every source's tools under unique names, one argument check
for all of them, and one call path (timeouts, unreachable sources) the agent uses."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema_rs
import structlog

from loopdesk.core.metrics import TOOL_CALLS
from loopdesk.core.tracing import tool_outcome, tool_span
from loopdesk.tools.base import (
    ToolCallContext,
    ToolNotFound,
    ToolPermissionError,
    ToolResult,
    ToolSource,
    ToolSpec,
    ToolUnavailable,
)

log = structlog.get_logger("loopdesk.tools.registry")
Permission = Literal["read", "write"]


@dataclass(frozen=True)
class Listed:
    spec: ToolSpec
    available: bool
    detail: str | None = None


class ToolRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, ToolSource] = {}
        self._validators: dict[str, tuple[dict[str, Any], jsonschema_rs.Validator]] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def key(source: ToolSource) -> str:
        return f"{source.kind}:{source.source_id}"

    async def add(self, source: ToolSource) -> None:
        """Start the source and list its tools (a source that cannot start is kept, unavailable)."""
        await source.start()
        async with self._lock:
            previous = self._sources.pop(self.key(source), None)
            self._sources[self.key(source)] = source
        if previous is not None and previous is not source:
            await previous.close()
        log.info(
            "tools.source_added", source=self.key(source), tools=len(source.tools()), health=source.health().status
        )

    async def remove(self, key: str) -> bool:
        async with self._lock:
            source = self._sources.pop(key, None)
        if source is None:
            return False
        await source.close()
        log.info("tools.source_removed", source=key)
        return True

    def sources(self) -> dict[str, ToolSource]:
        return dict(self._sources)

    async def close(self) -> None:
        for key in list(self._sources):
            await self.remove(key)

    def _index(self) -> dict[str, tuple[ToolSpec, ToolSource]]:
        # Sources in registration order: a later source cannot take over an earlier tool's name.
        found: dict[str, tuple[ToolSpec, ToolSource]] = {}
        for source in self._sources.values():
            for spec in source.tools():
                if spec.name in found:
                    continue
                found[spec.name] = (spec, source)
        return found

    def specs(self) -> list[ToolSpec]:
        return [spec for spec, _ in self._index().values()]

    def listing(self) -> list[Listed]:
        listed = []
        for spec, source in self._index().values():
            health = source.health()
            listed.append(Listed(spec, health.status == "ok", health.detail))
        return listed

    def spec(self, name: str) -> ToolSpec | None:
        entry = self._index().get(name)
        return entry[0] if entry else None

    def select(self, selectors: Iterable[str] | None) -> list[ToolSpec]:
        """Tools an assistant's `tools` setting picks: names, globs (`crm_*`), or `<kind>:<source>/<glob>`
        (`mcp:time/*`, `openapi:shop/*`); None or ["*"] picks every tool."""
        specs = self.specs()
        if selectors is None:
            return specs
        chosen: dict[str, ToolSpec] = {}
        for selector in selectors:
            for spec in specs:
                if _matches(selector, spec):
                    chosen.setdefault(spec.name, spec)
        return list(chosen.values())

    def bind(self, selectors: Iterable[str] | None, *, permission: Permission) -> list[ToolSpec]:
        """The tools an agent with `permission` may be given. A read agent gets read tools only: a selector that
        names one tool (no glob) which writes is refused with ToolPermissionError; globs keep only read tools.
        The caller passes exactly these names to the gate, so a write call is refused there too."""
        chosen = self.select(selectors)
        if permission == "write":
            return chosen
        for selector in selectors or ():
            if _is_exact(selector):
                spec = self.spec(selector)
                if spec is not None and spec.side_effect != "read":
                    raise ToolPermissionError(f"{selector} {spec.side_effect}s: a read-only agent cannot be given it")
        return [spec for spec in chosen if spec.side_effect == "read"]

    def validate(self, spec: ToolSpec, arguments: Any) -> str | None:
        """The reason the arguments violate the tool's schema, or None."""
        if not isinstance(arguments, dict):
            return "arguments must be a JSON object"
        cached = self._validators.get(spec.name)
        if cached is not None and cached[0] == spec.parameters:
            validator = cached[1]
        else:
            try:
                validator = jsonschema_rs.validator_for(spec.parameters, retriever=_no_retrieval)
            except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
                # A source's broken schema, or one pointing elsewhere: do not call.
                return f"the tool's own schema is invalid: {exc}"
            self._validators[spec.name] = (spec.parameters, validator)
        errors = [
            f"{'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(arguments)
        ]
        return "; ".join(errors[:5]) if errors else None

    async def call(self, name: str, arguments: dict[str, Any], context: ToolCallContext) -> ToolResult:
        """Run one call: arguments checked first (a violation is returned to the model, nothing is called),
        then the source, within the context's timeout. Never raises for the tool's or source's failure."""
        entry = self._index().get(name)
        if entry is None:
            return ToolResult.error(f"unknown tool {name!r}")
        spec, source = entry
        with tool_span(spec):
            return await self._call(spec, source, arguments, context)

    async def _call(
        self, spec: ToolSpec, source: ToolSource, arguments: dict[str, Any], context: ToolCallContext
    ) -> ToolResult:
        name = spec.name
        if (problem := self.validate(spec, arguments)) is not None:
            _counted(spec, "invalid")
            return ToolResult.error(f"invalid arguments for {name}: {problem}")
        try:
            result = await asyncio.wait_for(source.call(name, arguments, context), context.timeout)
        except TimeoutError:
            _counted(spec, "timeout")
            return ToolResult.error(f"{name} did not answer within {context.timeout:g} s")
        except ToolUnavailable as exc:
            _counted(spec, "unavailable")
            return ToolResult.error(f"{name} is unavailable right now: {exc}")
        except ToolNotFound:
            _counted(spec, "unavailable")
            return ToolResult.error(f"{name} is no longer offered by its source")
        _counted(spec, "error" if result.is_error else "ok")
        return result


def _counted(spec: ToolSpec, outcome: str) -> None:
    """A call's outcome, in the metrics and on its trace span."""
    TOOL_CALLS.labels(spec.source, outcome).inc()
    tool_outcome(outcome)


def _is_exact(selector: str) -> bool:
    return ":" not in selector and not any(ch in selector for ch in "*?[")


def _no_retrieval(uri: str) -> Any:
    """Schemas come from other parties: a remote `$ref` is never fetched (no SSRF through validation)."""
    raise ValueError(f"remote $ref {uri!r} is not followed")


def _matches(selector: str, spec: ToolSpec) -> bool:
    if ":" in selector:
        kind, _, rest = selector.partition(":")
        source_id, _, pattern = rest.partition("/")
        return (
            fnmatch.fnmatchcase(spec.source, kind)
            and fnmatch.fnmatchcase(spec.source_id, source_id or "*")
            and fnmatch.fnmatchcase(spec.name, pattern or "*")
        )
    return fnmatch.fnmatchcase(spec.name, selector)

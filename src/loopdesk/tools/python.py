"""Python tool plugins: LangChain tools declared with `plugin_tool` (or plain `@tool`), from the
built-ins, the `loopdesk.tools` entry points and a plugins folder. A tool may ask to run in a
subprocess with a time and memory limit (`isolation="subprocess"`)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
import structlog
from langchain_core.tools import BaseTool, ToolException
from langchain_core.tools import tool as langchain_tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from loopdesk.core.imports import exec_file
from loopdesk.tools.base import (
    ApprovalMode,
    SideEffect,
    ToolCallContext,
    ToolNotFound,
    ToolResult,
    ToolSource,
    ToolSpec,
)

log = structlog.get_logger("loopdesk.tools.python")

ENTRY_POINT_GROUP = "loopdesk.tools"
_current: ContextVar[ToolCallContext | None] = ContextVar("loopdesk_tool_call", default=None)


def plugin_tool(
    *,
    side_effect: SideEffect,
    default_mode: ApprovalMode | None = None,
    isolation: str | None = None,
    timeout_seconds: float = 10.0,
    memory_mb: int = 256,
) -> Callable[[Callable[..., Any]], BaseTool]:
    """Declare a Python function as a loopdesk tool. `side_effect` is required: it decides whether
    a call waits for approval. `isolation="subprocess"` runs each call in a fresh, limited process."""
    if isolation not in (None, "subprocess"):
        raise ValueError("isolation must be None or 'subprocess'")

    def wrap(function: Callable[..., Any]) -> BaseTool:
        made = langchain_tool(function)
        made.metadata = {
            **(made.metadata or {}),
            "side_effect": side_effect,
            "default_mode": default_mode,
            "isolation": isolation,
            "timeout_seconds": timeout_seconds,
            "memory_mb": memory_mb,
            "ref": f"{function.__module__}:{function.__name__}",
        }
        return made

    return wrap


def current_call() -> ToolCallContext | None:
    """Inside a tool: who calls, and the idempotency key (the same when a retried step calls again)."""
    return _current.get()


class PythonSource(ToolSource):
    kind = "python"

    def __init__(self, source_id: str, tools: Iterable[BaseTool], *, file: Path | None = None):
        super().__init__(source_id)
        self._tools = {t.name: t for t in tools}
        self._file = file
        self._specs = [self._spec(t) for t in self._tools.values()]

    def _spec(self, item: BaseTool) -> ToolSpec:
        meta = item.metadata or {}
        parameters = convert_to_openai_tool(item)["function"].get("parameters") or {"type": "object", "properties": {}}
        return ToolSpec(
            name=item.name,
            description=item.description or "",
            parameters=parameters,
            # A plugin that does not say is treated as one that changes something.
            side_effect=meta.get("side_effect") or "write",
            source=self.kind,
            source_id=self.source_id,
            default_mode=meta.get("default_mode"),
            metadata={"isolation": meta.get("isolation")} if meta.get("isolation") else {},
        )

    async def start(self) -> None:
        self._set_health("ok")

    def tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call(self, name: str, arguments: dict[str, Any], context: ToolCallContext) -> ToolResult:
        item = self._tools.get(name)
        if item is None:
            raise ToolNotFound(name)
        meta = item.metadata or {}
        if meta.get("isolation") == "subprocess":
            within = min(context.timeout, meta["timeout_seconds"])
            return await _call_isolated(item, arguments, self._file, within, context)
        token = _current.set(context)
        try:
            result = await item.ainvoke(arguments)
        except ToolException as exc:
            return ToolResult.error(str(exc))
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is the tool's result, not ours
            log.info("tools.python_failed", tool=name, error=type(exc).__name__)
            return ToolResult.error(f"{type(exc).__name__}: {exc}")
        finally:
            _current.reset(token)
        return ToolResult(_jsonable(result))


def _jsonable(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value, default=str))
    except TypeError:
        return str(value)


async def _call_isolated(
    item: BaseTool, arguments: dict[str, Any], file: Path | None, within: float, context: ToolCallContext
) -> ToolResult:
    meta = item.metadata or {}
    request = {
        "ref": meta["ref"],
        "file": str(file) if file else None,
        "name": item.name,
        "arguments": arguments,
        "context": {k: getattr(context, k) for k in ("idempotency_key", "user_id", "thread_id", "run_id", "timeout")},
    }
    memory = int(meta.get("memory_mb", 256)) * 1024 * 1024

    def limit() -> None:  # runs in the child before exec
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(within) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loopdesk.tools.sandbox",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit,  # noqa: PLW1509 - rlimits must be set in the child
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(orjson.dumps(request)), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        return ToolResult.error(f"the tool ran longer than {within:g} s and was stopped")
    if process.returncode != 0:
        if process.returncode in (-9, -24):  # SIGKILL / SIGXCPU from the limits
            return ToolResult.error("the tool exceeded its CPU or memory limit and was stopped")
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if "MemoryError" in tail[0]:
            return ToolResult.error("the tool exceeded its memory limit and was stopped")
        return ToolResult.error(f"the tool's process failed: {tail[0][:300]}")
    try:
        reply = orjson.loads(out)
    except orjson.JSONDecodeError:
        return ToolResult.error("the tool's process answered with something that is not JSON")
    return ToolResult(reply.get("content"), is_error=bool(reply.get("is_error")))


def tools_of(value: Any) -> list[BaseTool]:
    """An entry point's or module attribute's tools: a tool, a list of them, or a function returning those."""
    if isinstance(value, BaseTool):
        return [value]
    if callable(value) and not isinstance(value, type):
        value = value()
    if isinstance(value, BaseTool):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, BaseTool) for v in value):
        return list(value)
    raise TypeError("expected a LangChain tool, a list of tools or a function returning them")


def load_file(path: Path) -> list[BaseTool]:
    """The tools a plugin file defines: its `TOOLS` list, else every module-level tool."""
    module = exec_file(path, f"loopdesk_plugin_{uuid.uuid5(uuid.NAMESPACE_URL, str(path.resolve())).hex}")
    if hasattr(module, "TOOLS"):
        return tools_of(module.TOOLS)
    return [v for v in vars(module).values() if isinstance(v, BaseTool)]


def discover(plugins_dir: Path | None) -> list[PythonSource]:
    """Built-ins, entry points, then the plugins folder; a plugin that fails to load is logged and skipped."""
    from loopdesk.tools.builtins import BUILTIN_TOOLS

    sources = [PythonSource("builtin", BUILTIN_TOOLS)]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            sources.append(PythonSource(point.name, tools_of(point.load())))
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the service
            log.warning("tools.plugin_failed", entry_point=point.name, error=f"{type(exc).__name__}: {exc}")
    if plugins_dir is not None and plugins_dir.is_dir():
        for path in sorted(plugins_dir.glob("*.py")):
            try:
                sources.append(PythonSource(path.stem, load_file(path), file=path.resolve()))
            except Exception as exc:  # noqa: BLE001 - as above
                log.warning("tools.plugin_failed", file=str(path), error=f"{type(exc).__name__}: {exc}")
    return sources

"""An MCP server as a tool source.

One long-lived session per server (a spawned process over stdio, see `stdio.py`, or a streamable-HTTP connection),
owned by a background task that enters and exits every transport context. A call that times out or
finds the connection broken drops the session and raises `ToolUnavailable`; the next call (or
`refresh`) reconnects once the backoff allows. `notifications/tools/list_changed` re-lists the tools
and tells `on_change`."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from loopdesk import __version__
from loopdesk.tools.base import (
    MAX_NAME,
    SideEffect,
    ToolCallContext,
    ToolNotFound,
    ToolResult,
    ToolSource,
    ToolSpec,
    ToolUnavailable,
    tool_name,
)
from loopdesk.tools.mcp.config import MCPServerConfig, redact_url
from loopdesk.tools.mcp.stdio import (
    _EXIT_GRACE,
    _TERM_GRACE,
    ReadStream,
    WriteStream,
    _Child,
    _signal_group,
    _SpawnError,
    _stdio,
)
from loopdesk.tools.net import OutboundPolicy, SafeTransport, UnsafeDestination

log = structlog.get_logger("loopdesk.tools.mcp")

T = TypeVar("T")
OnChange = Callable[["MCPSource"], Awaitable[None] | None]

_CLIENT = types.Implementation(name="loopdesk", version=__version__)
_CLOSE_TIMEOUT = 5.0  # bound on a session's teardown (an HTTP DELETE to a hung server)
_SSE_READ_TIMEOUT = 300.0  # the GET stream of server notifications stays open between events
_IDEMPOTENCY_META = "loopdesk/idempotency_key"
_SESSION_TERMINATED = 32600  # what the streamable-HTTP client reports for a 404 (unknown session)


class _SessionExpired(ToolUnavailable):
    """An HTTP server answered 404 for the session (it restarted): the request never ran there."""


@dataclass(eq=False)
class _Connection:
    """One session and the task that owns it. Other tasks talk to the owner through `commands`."""

    notify_changes: bool
    commands: MemoryObjectSendStream[str]
    inbox: MemoryObjectReceiveStream[str]
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    session: ClientSession | None = None
    specs: list[ToolSpec] | None = None
    changed: bool = False
    child: _Child | None = None
    scope: anyio.CancelScope | None = None
    calls: set[anyio.CancelScope] = field(default_factory=set)
    alive: bool = True
    stopping: bool = False
    accounted: bool = False  # the failure is already in health and backoff
    reason: str | None = None
    task: asyncio.Task[None] | None = None

    @classmethod
    def new(cls, *, notify_changes: bool) -> _Connection:
        commands, inbox = anyio.create_memory_object_stream[str](32)
        return cls(notify_changes, commands, inbox)

    def send(self, command: str) -> bool:
        try:
            self.commands.send_nowait(command)
            return True
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False

    def stop(self) -> None:
        self.alive = False
        self.stopping = True
        if not self.ready.is_set() or not self.send("stop"):
            if self.scope is not None:
                self.scope.cancel()

    def cancel_calls(self) -> None:
        self.alive = False
        for scope in list(self.calls):
            scope.cancel()

    async def on_message(self, message: Any) -> None:
        # Runs inside the session's receive loop: never await a request here, hand it to the owner.
        if isinstance(message, types.ServerNotification):
            if isinstance(message.root, types.ToolListChangedNotification):
                self.send("relist")
        elif isinstance(message, Exception):
            log.debug("mcp.bad_message", error=str(message)[:300])

    @property
    def pid(self) -> int | None:
        return self.child.process.pid if self.child else None


class MCPSource(ToolSource):
    """The tools of one MCP server. `tools()` keeps the last listing while the server is unreachable
    (a call then reconnects, after the backoff); it is empty until a first listing succeeds."""

    kind = "mcp"

    def __init__(
        self,
        config: MCPServerConfig,
        *,
        on_change: OnChange | None = None,
        policy: OutboundPolicy | None = None,
        backoff: tuple[float, float] = (1.0, 60.0),
    ):
        super().__init__(config.name)
        self.config = config
        self.on_change = on_change
        self._policy = policy
        self._backoff = backoff
        self._specs: dict[str, ToolSpec] = {}
        self._conn: _Connection | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._failures = 0
        self._retry_at = 0.0
        self._closed = False

    def __repr__(self) -> str:
        return f"MCPSource({self.config.name!r}, transport={self.config.transport!r}, health={self._health.status!r})"

    @property
    def pid(self) -> int | None:
        """The pid of the stdio server process (the last one spawned), None for HTTP."""
        return self._conn.pid if self._conn else None

    async def start(self) -> None:
        self._closed = False
        self._retry_at = 0.0
        with suppress(ToolUnavailable):
            await self._connected(notify_changes=False)

    def tools(self) -> list[ToolSpec]:
        return list(self._specs.values())

    async def call(self, name: str, arguments: dict[str, Any], context: ToolCallContext) -> ToolResult:
        spec = self._specs.get(name)
        if spec is None:
            raise ToolNotFound(f"MCP server {self.source_id!r} has no tool {name!r}")
        conn = await self._connected(notify_changes=True)
        timeout = min(context.timeout, self.config.call_timeout_seconds)
        meta = {_IDEMPOTENCY_META: context.idempotency_key}
        original = spec.metadata["mcp_tool"]
        try:
            try:
                result = await self._request(
                    conn, lambda s: s.call_tool(original, arguments, meta=meta), timeout, f"call to {original}"
                )
            except _SessionExpired:
                # Safe to send again: the server did not run the call. A new session, at once.
                conn = await self._connected(notify_changes=True)
                result = await self._request(
                    conn, lambda s: s.call_tool(original, arguments, meta=meta), timeout, f"call to {original}"
                )
        except McpError as exc:
            return ToolResult.error(f"MCP error {exc.error.code}: {exc.error.message}")
        except (RuntimeError, ValueError) as exc:  # output schema validation, a malformed result
            return ToolResult.error(f"invalid result from MCP server {self.source_id!r}: {exc}")
        return _result(result)

    async def refresh(self) -> bool:
        conn = self._conn
        if conn is None or not conn.alive or conn.session is None:
            try:
                conn = await self._connected(notify_changes=False)
            except ToolUnavailable:
                return False
            return conn.changed
        try:
            tools = await self._request(conn, load_mcp_tools, self.config.timeout_seconds, "tools/list")
        except (ToolUnavailable, McpError, RuntimeError, ValueError) as exc:
            log.warning("mcp.refresh_failed", server=self.source_id, error=str(exc))
            return False
        return self._apply(self._to_specs(tools))

    async def close(self) -> None:
        self._closed = True
        conn = self._conn
        if conn is None:
            return
        if not conn.done.is_set():
            conn.reason = conn.reason or "closed"
            conn.accounted = True
            conn.stop()
            with anyio.move_on_after(_EXIT_GRACE + _TERM_GRACE + _CLOSE_TIMEOUT):
                await conn.done.wait()
            if not conn.done.is_set() and conn.task is not None:
                conn.task.cancel()
                with suppress(asyncio.CancelledError):
                    await conn.task
        child = conn.child
        if child is not None and child.process.returncode is None:  # only if the teardown itself was cut short
            log.warning("mcp.process_killed", server=self.source_id, pid=child.process.pid)
            _signal_group(child.process.pid, signal.SIGKILL)
            with anyio.move_on_after(_TERM_GRACE):
                await child.process.wait()
        self._set_health("unavailable", "closed")

    async def _connected(self, *, notify_changes: bool) -> _Connection:
        """The live session, connecting first when there is none and the backoff allows it."""
        conn = self._conn
        if conn is not None and conn.alive and conn.session is not None:
            return conn
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.alive and conn.session is not None:
                return conn
            if self._closed:
                raise ToolUnavailable(f"MCP server {self.source_id!r}: the source is closed")
            if conn is not None:  # never two processes at once: the old one is gone first
                conn.stop()
                await conn.done.wait()
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise ToolUnavailable(
                    f"MCP server {self.source_id!r} is unavailable ({self._health.detail}); next attempt in {wait:.1f}s"
                )
            conn = _Connection.new(notify_changes=notify_changes)
            self._conn = conn
            conn.task = asyncio.create_task(self._own(conn), name=f"mcp:{self.source_id}")
            await conn.ready.wait()
            if conn.session is None or not conn.alive:
                raise ToolUnavailable(f"MCP server {self.source_id!r} is unavailable: {self._health.detail}")
            return conn

    async def _own(self, conn: _Connection) -> None:
        """The owner task: opens the session, serves re-listing requests, closes it (same task throughout)."""
        failure: BaseException | None = None
        try:
            with anyio.CancelScope() as conn.scope:
                if conn.stopping:
                    conn.scope.cancel()
                async with AsyncExitStack() as stack:
                    read, write = await self._open(conn, stack)
                    session = await stack.enter_async_context(
                        ClientSession(read, write, message_handler=conn.on_message, client_info=_CLIENT)
                    )
                    with anyio.fail_after(self.config.timeout_seconds):
                        await session.initialize()
                        specs = self._to_specs(await load_mcp_tools(session))
                    conn.session, conn.specs = session, specs
                    self._up(conn)
                    conn.ready.set()
                    async for command in conn.inbox:
                        if command == "relist":
                            await self._relist(conn)
                        else:  # stop, or lost (the process closed its stdout)
                            break
                    conn.cancel_calls()
                    conn.scope.deadline = anyio.current_time() + _CLOSE_TIMEOUT
        except Exception as exc:
            failure = exc
        finally:
            conn.cancel_calls()
            if not conn.accounted:
                conn.reason, conn.accounted = self._describe(failure, conn), True
                self._down(conn.reason)
            conn.ready.set()
            conn.done.set()

    async def _open(self, conn: _Connection, stack: AsyncExitStack) -> tuple[ReadStream, WriteStream]:
        if self.config.transport == "stdio":
            read, write, conn.child = await stack.enter_async_context(_stdio(self.config, lambda: conn.send("lost")))
            return read, write
        assert self.config.url
        transport = SafeTransport(self._policy) if self._policy is not None else None
        client = httpx.AsyncClient(
            headers=self.config.headers,
            timeout=httpx.Timeout(self.config.timeout_seconds, read=_SSE_READ_TIMEOUT),
            transport=transport,
        )
        await stack.enter_async_context(client)
        read, write, _ = await stack.enter_async_context(streamable_http_client(self.config.url, http_client=client))
        return read, write

    async def _relist(self, conn: _Connection) -> None:
        assert conn.session is not None
        try:
            with anyio.fail_after(self.config.timeout_seconds):
                specs = self._to_specs(await load_mcp_tools(conn.session))
        except (TimeoutError, McpError) as exc:
            log.warning("mcp.relist_failed", server=self.source_id, error=str(exc))
            return
        if self._apply(specs):
            self._notify_soon()

    def _up(self, conn: _Connection) -> None:
        assert conn.specs is not None
        self._failures, self._retry_at = 0, 0.0
        self._set_health("ok")
        conn.changed = self._apply(conn.specs)
        log.info("mcp.connected", server=self.source_id, transport=self.config.transport, tools=len(conn.specs))
        if conn.changed and conn.notify_changes:
            self._notify_soon()

    def _down(self, reason: str) -> None:
        """Health unavailable, and no new attempt before the backoff delay."""
        self._failures += 1
        base, ceiling = self._backoff
        delay = min(ceiling, base * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay
        self._set_health("unavailable", reason)
        log.warning("mcp.unavailable", server=self.source_id, reason=reason, retry_in=round(delay, 2))

    def _drop(self, conn: _Connection, reason: str) -> None:
        if conn.accounted:
            return
        conn.reason, conn.accounted = reason, True
        self._down(reason)
        conn.stop()

    def _describe(self, failure: BaseException | None, conn: _Connection) -> str:
        while isinstance(failure, BaseExceptionGroup) and failure.exceptions:
            failure = failure.exceptions[0]
        died = conn.child.exit_reason() if conn.child else None
        if died:
            text = died
        elif failure is None or (isinstance(failure, McpError) and failure.error.code == types.CONNECTION_CLOSED):
            text = "the connection closed"
        elif isinstance(failure, _SpawnError):
            text = str(failure)
        elif isinstance(failure, TimeoutError):
            text = f"no answer to initialize / tools/list within {self.config.timeout_seconds:g}s"
        elif isinstance(failure, UnsafeDestination):
            text = f"refused by the outbound policy: {failure}"
        elif isinstance(failure, httpx.ConnectError):
            refused = "refused" in str(failure).lower() or "all connection attempts failed" in str(failure).lower()
            where = redact_url(self.config.url)
            text = f"connection refused: {where}" if refused else f"cannot connect to {where}: {failure}"
        elif isinstance(failure, httpx.HTTPStatusError):
            text = f"HTTP {failure.response.status_code} from {redact_url(self.config.url)}"
        elif isinstance(failure, McpError):
            text = f"MCP error {failure.error.code}: {failure.error.message}"
        else:
            text = f"{type(failure).__name__}: {failure}"
        return self.config.mask(text)

    async def _request(
        self, conn: _Connection, send: Callable[[ClientSession], Awaitable[T]], seconds: float, what: str
    ) -> T:
        """`send` over the session, bounded by `seconds`, cut short when the connection is lost."""
        session = conn.session
        assert session is not None
        with anyio.CancelScope(deadline=anyio.current_time() + seconds) as scope:
            conn.calls.add(scope)
            try:
                return await send(session)
            except McpError as exc:
                if exc.error.code == _SESSION_TERMINATED and "terminated" in exc.error.message:
                    expired = "the server no longer knows the session (HTTP 404)"
                    conn.reason, conn.accounted = expired, True
                    conn.stop()
                    raise _SessionExpired(f"MCP server {self.source_id!r}: {expired}") from None
                if exc.error.code != types.CONNECTION_CLOSED:
                    raise
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                pass
            finally:
                conn.calls.discard(scope)
        if scope.cancelled_caught and conn.alive:
            if conn.child is not None:
                conn.child.hung = True
            self._drop(conn, f"{what} timed out after {seconds:g}s")
        if conn.reason is None:
            # Lost under us: the owner is tearing down and will say why (an exit code, a refused connection).
            with anyio.move_on_after(_EXIT_GRACE * 2 + _TERM_GRACE):
                await conn.done.wait()
            if conn.reason is None:
                self._drop(conn, f"{what}: the connection closed")
        raise ToolUnavailable(f"MCP server {self.source_id!r} is unavailable: {conn.reason or 'connection lost'}")

    def _to_specs(self, tools: list[BaseTool]) -> list[ToolSpec]:
        originals = list(dict.fromkeys(tool.name for tool in tools))
        names = _unique_names(self.source_id, originals)
        specs, seen = [], set()
        for tool in tools:
            if tool.name in seen:
                continue
            seen.add(tool.name)
            try:
                specs.append(
                    ToolSpec(
                        name=names[tool.name],
                        description=tool.description or "",
                        parameters=dict(tool.args_schema) if isinstance(tool.args_schema, dict) else {},
                        side_effect=_side_effect(tool.metadata),
                        source=self.kind,
                        source_id=self.source_id,
                        metadata={"mcp_tool": tool.name},
                    )
                )
            except ValueError as exc:
                log.warning("mcp.tool_skipped", server=self.source_id, tool=tool.name, error=str(exc))
        return specs

    def _apply(self, specs: list[ToolSpec]) -> bool:
        """Install a listing; True when names, descriptions, schemas or side effects changed."""
        changed = sorted(specs, key=_by_name) != sorted(self._specs.values(), key=_by_name)
        self._specs = {spec.name: spec for spec in specs}
        if changed:
            log.info("mcp.tools_changed", server=self.source_id, tools=sorted(self._specs))
        return changed

    def _notify_soon(self) -> None:
        # Not in the owner task: a callback that closes or calls the source must not wait on itself.
        if self.on_change is not None:
            task = asyncio.create_task(self._notify())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _notify(self) -> None:
        assert self.on_change is not None
        try:
            outcome = self.on_change(self)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("mcp.on_change_failed", server=self.source_id)


def _by_name(spec: ToolSpec) -> str:
    return spec.name


def _unique_names(server: str, originals: list[str]) -> dict[str, str]:
    """`server_tool` names, valid and unique: a name that collides with an earlier one (in sorted
    order) after sanitising or cutting to 64 gets a short hash of the original name."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for original in sorted(originals):
        name = tool_name(server, original)
        if name in taken:
            digest = hashlib.sha256(original.encode()).hexdigest()[:8]
            name = f"{tool_name(server, original, limit=MAX_NAME - 9)}_{digest}"
        taken.add(name)
        names[original] = name
    return names


def _side_effect(hints: dict[str, Any] | None) -> SideEffect:
    """From MCP tool annotations; without them, a write. A server claiming both read-only and
    destructive is taken at its more dangerous word."""
    hints = hints or {}
    if hints.get("destructiveHint") is True:
        return "destructive"
    if hints.get("readOnlyHint") is True:
        return "read"
    return "write"


def _content_text(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.EmbeddedResource):
        if isinstance(block.resource, types.TextResourceContents):
            return block.resource.text
        return f"[resource {block.resource.uri} ({block.resource.mimeType or 'binary'}), not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.uri}]"
    if isinstance(block, types.ImageContent | types.AudioContent):
        return f"[{block.type} ({block.mimeType}), not shown]"
    return f"[{getattr(block, 'type', 'content')}, not shown]"


def _result(result: types.CallToolResult) -> ToolResult:
    text = "\n".join(part for part in map(_content_text, result.content) if part)
    if result.isError:
        return ToolResult.error(text or "the tool failed without a message")
    if result.structuredContent is not None:
        return ToolResult(result.structuredContent)
    return ToolResult(text)

"""The stdio transport of an MCP server: the spawned process (in a process group of its own), the tail of its stderr
and why it exited, and MCP's shutdown of it, down to what it left in its process group."""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.text import TextReceiveStream
from mcp import types
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from loopdesk.tools.mcp.config import MCPServerConfig

log = structlog.get_logger("loopdesk.tools.mcp")

ReadStream = MemoryObjectReceiveStream[SessionMessage | Exception]
WriteStream = MemoryObjectSendStream[SessionMessage]

_EXIT_GRACE = 1.0  # after stdin closes, before SIGTERM
_TERM_GRACE = 2.0  # after SIGTERM, before SIGKILL
_STDERR_LINES = 20


class _SpawnError(Exception):
    """The server process could not be started (the message is the health detail)."""


@dataclass(eq=False)
class _Child:
    """A spawned stdio server and the tail of its stderr (the reason it died is usually there)."""

    process: Process
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))
    stderr_done: anyio.Event = field(default_factory=anyio.Event)
    stopping: bool = False
    hung: bool = False  # stopped for not answering: closing stdin would not end it
    died: bool = False  # exited (or closed its stdout) before we began to stop it
    exit_code: int | None = None

    def gone(self) -> None:
        if not self.stopping:
            self.died = True

    def exit_reason(self) -> str | None:
        code = self.exit_code
        if not self.died:
            return None
        if code is None:
            return "closed its stdout"
        reason = f"exited with code {code}"
        if code < 0:
            with suppress(ValueError):
                reason = f"killed by signal {signal.Signals(-code).name}"
        tail = next((line for line in reversed(self.stderr) if line.strip()), None)
        return f"{reason}: {tail.strip()[:300]}" if tail else reason


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The server runs in a session of its own (start_new_session): its group id is its pid.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _stop_process(process: Process, exit_grace: float = _EXIT_GRACE) -> None:
    """MCP's stdio shutdown: close stdin, wait, SIGTERM, wait, SIGKILL; then reap, and kill what the
    server left behind in its process group."""
    with suppress(Exception):
        await process.stdin.aclose()  # type: ignore[union-attr]
    for sig, grace in ((signal.SIGTERM, exit_grace), (signal.SIGKILL, _TERM_GRACE)):
        with anyio.move_on_after(grace):
            await process.wait()
        if process.returncode is not None:
            break
        _signal_group(process.pid, sig)
    await process.wait()
    _signal_group(process.pid, signal.SIGKILL)


@asynccontextmanager
async def _stdio(
    config: MCPServerConfig, on_exit: Callable[[], None]
) -> AsyncIterator[tuple[ReadStream, WriteStream, _Child]]:
    """The stdio transport of `mcp.client.stdio`, keeping the process handle (exit code, pid, stderr)."""
    assert config.command
    # Only a minimal environment (PATH, HOME...) plus the configured one: the service's own secrets stay here.
    env = {**get_default_environment(), **config.env}
    try:
        process = await anyio.open_process(
            [config.command, *config.args], env=env, cwd=config.cwd, start_new_session=True
        )
    except FileNotFoundError as exc:
        if config.cwd and exc.filename == config.cwd:
            raise _SpawnError(f"working directory not found: {config.cwd}") from None
        raise _SpawnError(f"command not found: {config.command}") from None
    except PermissionError:
        raise _SpawnError(f"command not executable: {config.command}") from None
    except OSError as exc:
        raise _SpawnError(f"cannot start {config.command}: {exc.strerror or exc}") from None
    child = _Child(process)
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def stdout() -> None:
        buffer = ""
        async with read_writer:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                async for chunk in TextReceiveStream(process.stdout, errors="replace"):  # type: ignore[arg-type]
                    *lines, buffer = (buffer + chunk).split("\n")
                    for line in filter(str.strip, lines):
                        try:
                            message: SessionMessage | Exception = SessionMessage(
                                types.JSONRPCMessage.model_validate_json(line)
                            )
                        except ValueError as exc:
                            message = exc
                        await read_writer.send(message)
            child.gone()  # before the session sees its stream end: the owner then knows it died
            on_exit()

    async def wait() -> None:
        # A child the server left holding its stdout would hide the exit from stdout() alone.
        code = await process.wait()
        if not child.stopping:
            child.exit_code = code
            child.gone()
            on_exit()

    async def stdin() -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_none=True)
                    await process.stdin.send((data + "\n").encode())  # type: ignore[union-attr]

    async def stderr() -> None:
        buffer = ""
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for chunk in TextReceiveStream(process.stderr, errors="replace"):  # type: ignore[arg-type]
                *lines, buffer = (buffer + chunk).split("\n")
                for line in lines:
                    child.stderr.append(config.mask(line))
                    log.debug("mcp.stderr", server=config.name, line=config.mask(line))
        child.stderr_done.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stdout)
            tg.start_soon(stdin)
            tg.start_soon(stderr)
            tg.start_soon(wait)
            try:
                yield read_stream, write_stream, child
            finally:
                with anyio.CancelScope(shield=True):
                    if child.died and child.exit_code is None:  # going away on its own: let it say how
                        with anyio.move_on_after(_EXIT_GRACE):
                            child.exit_code = await process.wait()
                    child.stopping = True
                    await _stop_process(process, exit_grace=0.1 if child.hung else _EXIT_GRACE)
                    with anyio.move_on_after(0.5):  # its last words (the exit reason) are on stderr
                        await child.stderr_done.wait()
                    await process.aclose()
                tg.cancel_scope.cancel()
    finally:
        for stream in (read_stream, write_stream, read_writer, write_reader):
            await stream.aclose()

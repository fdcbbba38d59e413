"""MCPSource against real server processes: tool-list changes, hung and dead servers, reconnects with
a backoff, servers that cannot be reached, no process left behind, secrets kept out of the logs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import LoggingSettings
from loopdesk.tools.base import ToolCallContext, ToolNotFound, ToolUnavailable
from loopdesk.tools.mcp import MCPServerConfig, MCPSource
from loopdesk.tools.mcp.source import _unique_names
from loopdesk.tools.net import OutboundPolicy
from tests.tools.conformance import context
from tests.tools.mcp.servers import PYTHON, TOOLBOX, HTTPToolbox, free_port, toolbox_http, toolbox_stdio

BACKOFF = (0.3, 1.2)


async def eventually(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


def gone(pid: int) -> bool:
    """No such process any more: exited and reaped (a zombie still answers signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent that is not ours (a grandchild, reparented)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def names(source: MCPSource) -> set[str]:
    return {spec.name for spec in source.tools()}


async def test_list_changed_notification_updates_the_tools_without_a_refresh():
    changes: list[set[str]] = []
    source = MCPSource(toolbox_stdio(), on_change=lambda s: changes.append(names(s)))
    await source.start()
    try:
        assert "box_greet" not in names(source)
        assert (await source.call("box_add_tool", {"name": "greet"}, context())).text() == '{"result":"added greet"}'
        await eventually(lambda: "box_greet" in names(source), "the new tool is listed")
        await eventually(lambda: bool(changes), "on_change is called")
        assert "box_greet" in changes[-1]
        assert (await source.call("box_greet", {}, context())).content == {"result": "hello from greet"}
        assert await source.refresh() is False

        # A change the server does not announce is found by refresh(), which reports it (no callback).
        await source.call("box_add_tool", {"name": "quiet", "notify": False}, context())
        assert "box_quiet" not in names(source)
        assert await source.refresh() is True
        assert "box_quiet" in names(source) and len(changes) == 1
        assert await source.refresh() is False
    finally:
        await source.close()


async def test_a_hanging_call_times_out_the_source_goes_unavailable_then_recovers():
    source = MCPSource(toolbox_stdio(call_timeout_seconds=1), backoff=BACKOFF)
    await source.start()
    try:
        first = source.pid
        assert first is not None
        started = time.monotonic()
        with pytest.raises(ToolUnavailable, match="timed out after 1s"):  # the config's 1 s, not the context's 20
            await source.call("box_sleep", {"seconds": 60}, context())
        assert 0.9 < time.monotonic() - started < 3
        assert source.health().status == "unavailable" and "timed out" in (source.health().detail or "")
        await eventually(lambda: gone(first), "the hung server is stopped and reaped")

        await asyncio.sleep(BACKOFF[0])
        assert (await source.call("box_echo", {"text": "back"}, context())).content == {"result": "echo: back"}
        assert source.health().status == "ok" and source.pid not in (None, first)

        started = time.monotonic()
        with pytest.raises(ToolUnavailable, match="timed out after 0.5s"):  # a shorter context deadline wins
            await source.call("box_sleep", {"seconds": 60}, ToolCallContext(idempotency_key="k", timeout=0.5))
        assert time.monotonic() - started < 3  # bounded; the message names the deadline that won (busy hosts add time)
    finally:
        await source.close()


async def test_a_killed_server_is_restarted_by_the_next_call_after_the_backoff():
    source = MCPSource(toolbox_stdio(), backoff=(0.5, 2.0))
    await source.start()
    try:
        first = source.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: source.health().status == "unavailable", "the death is noticed without a call")
        assert source.health().detail == "killed by signal SIGKILL"
        await eventually(lambda: gone(first), "the dead server is reaped")
        assert "box_echo" in names(source)  # the last listing stays: a call is what brings the server back

        with pytest.raises(ToolUnavailable, match="next attempt in"):
            await source.call("box_echo", {"text": "too soon"}, context())
        assert source.pid == first  # nothing spawned within the backoff

        await asyncio.sleep(0.5)
        assert (await source.call("box_echo", {"text": "again"}, context())).content == {"result": "echo: again"}
        second = source.pid
        assert second not in (None, first) and source.health().status == "ok"

        # A server dying during a call: its outcome is unknown, so the call is unavailable, not a tool error.
        with pytest.raises(ToolUnavailable, match="exited with code 7"):
            await source.call("box_crash", {"code": 7}, context())
        assert source.health().detail == "exited with code 7"
        await eventually(lambda: second is not None and gone(second), "the crashed server is reaped")
        await asyncio.sleep(0.5)
        assert (await source.call("box_pid", {}, context())).content == {"result": source.pid}
    finally:
        await source.close()


async def test_a_server_that_keeps_failing_is_retried_with_a_growing_delay():
    config = MCPServerConfig(name="broken", transport="stdio", command=PYTHON, args=["-c", "raise SystemExit('boom')"])
    source = MCPSource(config, backoff=(0.3, 0.6))
    await source.start()  # does not raise
    try:
        assert source.health().status == "unavailable"
        assert source.health().detail == "exited with code 1: boom"
        assert source.tools() == []
        first = source.pid
        assert await source.refresh() is False and source.pid == first  # within 0.3 s: no new process
        await asyncio.sleep(0.4)
        assert await source.refresh() is False and source.pid != first  # tried again, failed again
        second = source.pid
        await asyncio.sleep(0.3)
        assert await source.refresh() is False and source.pid == second  # the delay doubled to 0.6 s
        await asyncio.sleep(0.4)
        assert await source.refresh() is False and source.pid not in (first, second)
    finally:
        await source.close()
    assert all(gone(pid) for pid in (first, second) if pid is not None)


async def test_a_missing_command_leaves_the_source_unavailable_with_the_reason():
    source = MCPSource(MCPServerConfig(name="ghost", transport="stdio", command="loopdesk-no-such-mcp-server"))
    await source.start()
    assert source.health().status == "unavailable"
    assert source.health().detail == "command not found: loopdesk-no-such-mcp-server"
    assert source.tools() == [] and await source.refresh() is False
    with pytest.raises(ToolNotFound):
        await source.call("ghost_anything", {}, context())
    await source.close()


async def test_an_http_url_with_nothing_listening_leaves_the_source_unavailable():
    url = f"http://127.0.0.1:{free_port()}/mcp"
    source = MCPSource(MCPServerConfig(name="nobody", transport="http", url=url, timeout_seconds=5))
    started = time.monotonic()
    await source.start()
    assert time.monotonic() - started < 5
    assert source.health().status == "unavailable"
    assert source.health().detail == f"connection refused: {url}"
    assert source.tools() == []
    await source.close()


async def test_close_leaves_no_process_behind_not_even_a_grandchild(tmp_path: Path):
    # The server starts a child of its own (in its process group) and leaves it running.
    pid_file = tmp_path / "grandchild.pid"
    script = f'sleep 300 & echo $! > {pid_file}; exec "$0" "$1" stdio'
    args = ["-c", script, PYTHON, str(TOOLBOX)]
    config = MCPServerConfig(name="family", transport="stdio", command="/bin/sh", args=args)
    source = MCPSource(config)
    await source.start()
    assert source.health().status == "ok", source.health().detail
    server, grandchild = source.pid, int(pid_file.read_text())
    assert server is not None and not gone(server) and not dead(grandchild)
    await source.close()
    assert gone(server)  # exited and reaped by close() itself: no zombie
    await eventually(lambda: dead(grandchild), "the server's own child is killed", within=2)
    await source.close()
    assert source.health().detail == "closed"
    with pytest.raises(ToolUnavailable, match="closed"):
        await source.call("family_echo", {"text": "after close"}, context())


async def test_env_reaches_the_server_but_no_repr_or_log_line(monkeypatch: pytest.MonkeyPatch):
    secret = "tok-" + os.urandom(8).hex()
    monkeypatch.setenv("LOOPDESK_TEST_SERVICE_SECRET", "service-" + secret)
    config = toolbox_stdio("envbox", env={"TOOLBOX_TOKEN": secret})
    stream = io.StringIO()
    configure_logging(LoggingSettings(log_format="json", log_level="DEBUG", _env_file=None), stream=stream)
    try:
        source = MCPSource(config, backoff=BACKOFF)
        await source.start()
        try:
            assert (await source.call("envbox_getenv", {"name": "TOOLBOX_TOKEN"}, context())).content == {
                "result": secret
            }
            # The service's own environment is not passed on (only PATH, HOME... and the configured env).
            leaked = await source.call("envbox_getenv", {"name": "LOOPDESK_TEST_SERVICE_SECRET"}, context())
            assert leaked.content == {"result": ""}
            await source.call("envbox_shout", {"text": f"token is {secret}"}, context())
            await eventually(lambda: "token is ***" in stream.getvalue(), "the server's stderr is logged, masked")
            texts = [repr(config), str(config), repr(source), str(source.health())]
        finally:
            await source.close()
    finally:
        configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(e["event"] == "mcp.connected" and e.get("server") == "envbox" for e in events)
    assert all(secret not in text for text in [*texts, stream.getvalue()])


async def test_http_server_notifies_dies_and_is_reconnected_after_a_restart():
    changes: list[set[str]] = []

    async def record(source: MCPSource) -> None:  # on_change may be a coroutine function too
        changes.append(names(source))

    port = free_port()
    config = MCPServerConfig(name="live", transport="http", url=f"http://127.0.0.1:{port}/mcp")
    source = MCPSource(config, on_change=record, backoff=BACKOFF)
    try:
        async with toolbox_http(port) as server:
            await source.start()
            await source.call("live_add_tool", {"name": "greet"}, context())
            await eventually(lambda: "live_greet" in names(source), "the notification over HTTP updates the tools")
            await eventually(lambda: bool(changes) and "live_greet" in changes[-1], "on_change hears of it")
            await server.kill()
        with pytest.raises(ToolUnavailable, match="connection refused"):
            await source.call("live_echo", {"text": "anyone?"}, context())
        assert source.health().detail == f"connection refused: {server.url}"

        async with toolbox_http(port) as restarted:
            await asyncio.sleep(BACKOFF[0])
            assert (await source.call("live_echo", {"text": "back"}, context())).content == {"result": "echo: back"}
            assert source.health().status == "ok"
            # The restarted server has no `greet`: the reconnect's new listing is announced.
            assert "live_greet" not in names(source)
            await eventually(lambda: "live_greet" not in changes[-1], "on_change hears of the new listing")
            await restarted.kill()
        # Restarted between two calls: it answers 404 for the old session, the call goes over a new one.
        async with toolbox_http(port):
            assert (await source.call("live_add", {"a": 2, "b": 3}, context())).content == {"result": 5}
            assert source.health().status == "ok"
    finally:
        await source.close()


async def test_the_outbound_policy_guards_http_servers(http_toolbox: HTTPToolbox):
    refused = MCPSource(http_toolbox.config("guarded"), policy=OutboundPolicy())
    await refused.start()
    assert refused.health().status == "unavailable"
    assert (refused.health().detail or "").startswith("refused by the outbound policy")
    allowed = MCPSource(http_toolbox.config("guarded"), policy=OutboundPolicy.from_allowlist(["127.0.0.0/8"]))
    await allowed.start()
    try:
        assert allowed.health().status == "ok"
        assert (await allowed.call("guarded_add", {"a": 1, "b": 2}, context())).content == {"result": 3}
    finally:
        await allowed.close()
        await refused.close()


def test_tool_names_are_prefixed_valid_and_unique():
    long = "x" * 80
    result = _unique_names("crm", ["search", "search.v2", "search_v2", long, long + "y"])
    assert result["search"] == "crm_search"
    assert len(set(result.values())) == 5
    assert all(len(name) <= 64 and name.startswith("crm_") for name in result.values())
    assert {result["search.v2"], result["search_v2"]} >= {"crm_search_v2"}  # one keeps the plain name
    assert result == _unique_names("crm", ["search_v2", long + "y", "search.v2", long, "search"])  # stable

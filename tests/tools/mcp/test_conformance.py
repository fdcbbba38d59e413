"""The shared tool-source conformance suite against real MCP servers: the third-party
`mcp-server-time` over stdio, and the FastMCP toolbox over streamable HTTP and over stdio.

One source per class (a process spawn costs ~0.5-1 s here); the suite's close test closes it, so
the `source` fixture starts it again when a later test needs it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loopdesk.tools.base import ToolSource
from loopdesk.tools.mcp import MCPServerConfig, MCPSource
from tests.tools.conformance import ToolSourceConformance, context
from tests.tools.mcp.servers import HTTPToolbox, time_server, toolbox_stdio


async def _shared(config: MCPServerConfig) -> AsyncIterator[MCPSource]:
    source = MCPSource(config)
    await source.start()
    yield source
    await source.close()


@pytest.fixture(scope="module")
async def time_source() -> AsyncIterator[MCPSource]:
    async for source in _shared(time_server()):
        yield source


@pytest.fixture(scope="module")
async def http_source(http_toolbox: HTTPToolbox) -> AsyncIterator[MCPSource]:
    async for source in _shared(http_toolbox.config()):
        yield source


@pytest.fixture(scope="module")
async def stdio_source() -> AsyncIterator[MCPSource]:
    async for source in _shared(toolbox_stdio()):
        yield source


async def _reopened(source: MCPSource) -> MCPSource:
    if source.health().detail == "closed":
        await source.start()
    return source


class TestTimeServerOverStdio(ToolSourceConformance):
    @pytest.fixture
    async def source(self, time_source: MCPSource) -> ToolSource:
        return await _reopened(time_source)

    @pytest.fixture
    def sample_call(self):
        return "time_get_current_time", {"timezone": "Europe/Paris"}, "Europe/Paris"

    @pytest.fixture
    def failing_call(self):
        return "time_get_current_time", {"timezone": "Mars/Olympus_Mons"}

    async def test_read_only_annotations_make_read_tools(self, source: MCPSource) -> None:
        specs = {spec.name: spec for spec in source.tools()}
        assert set(specs) == {"time_get_current_time", "time_convert_time"}
        assert {spec.side_effect for spec in specs.values()} == {"read"}
        assert specs["time_convert_time"].metadata == {"mcp_tool": "convert_time"}
        assert specs["time_convert_time"].parameters["required"] == ["source_timezone", "time", "target_timezone"]

    async def test_structured_content_is_the_result(self, source: MCPSource) -> None:
        result = await source.call("time_get_current_time", {"timezone": "Asia/Tokyo"}, context())
        assert result.content["timezone"] == "Asia/Tokyo" and isinstance(result.content["is_dst"], bool)


class TestToolboxOverHTTP(ToolSourceConformance):
    @pytest.fixture
    async def source(self, http_source: MCPSource) -> ToolSource:
        return await _reopened(http_source)

    @pytest.fixture
    def sample_call(self):
        return "web_echo", {"text": "over http"}, "echo: over http"

    @pytest.fixture
    def failing_call(self):
        return "web_fail", {"message": "it broke"}


class TestToolboxOverStdio(ToolSourceConformance):
    @pytest.fixture
    async def source(self, stdio_source: MCPSource) -> ToolSource:
        return await _reopened(stdio_source)

    @pytest.fixture
    def sample_call(self):
        return "box_add", {"a": 2, "b": 40}, "42"

    @pytest.fixture
    def failing_call(self):
        return "box_fail", {"message": "it broke"}

    async def test_side_effects_follow_the_annotations(self, source: MCPSource) -> None:
        effects = {spec.metadata["mcp_tool"]: spec.side_effect for spec in source.tools()}
        assert effects["echo"] == "read"  # readOnlyHint
        assert effects["crash"] == "destructive"  # destructiveHint
        assert effects["add_tool"] == "write"  # neither
        assert effects["sleep"] == "write"  # no annotations: not trusted to be a read

    async def test_failure_text_reaches_the_model_and_the_key_reaches_the_server(self, source: MCPSource) -> None:
        failed = await source.call("box_fail", {"message": "disk full"}, context())
        assert failed.is_error and "disk full" in failed.text()
        ctx = context()
        meta = await source.call("box_request_meta", {}, ctx)
        assert ctx.idempotency_key in meta.text()

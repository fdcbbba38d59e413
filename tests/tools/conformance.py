"""The conformance suite every tool source passes (Python plugins, MCP servers, OpenAPI imports).

A source's test module subclasses `ToolSourceConformance` and provides three fixtures:
- `source`: a started source (closed by the fixture afterwards),
- `sample_call`: `(tool_name, arguments, expected_fragment)` for a call that succeeds and whose result
  text contains `expected_fragment`,
- `failing_call`: `(tool_name, arguments)` for a call the tool itself fails (a result with is_error)."""

from __future__ import annotations

import uuid

import jsonschema_rs
import pytest

from loopdesk.tools.base import (
    MAX_NAME,
    SIDE_EFFECTS,
    ToolCallContext,
    ToolNotFound,
    ToolResult,
    ToolSource,
    ToolSpec,
)


def context() -> ToolCallContext:
    return ToolCallContext(idempotency_key=str(uuid.uuid4()), user_id=str(uuid.uuid4()), timeout=20)


class ToolSourceConformance:
    async def test_lists_tools_with_valid_specs(self, source: ToolSource) -> None:
        specs = source.tools()
        assert specs, "a started source lists at least one tool"
        for spec in specs:
            assert isinstance(spec, ToolSpec)
            assert 1 <= len(spec.name) <= MAX_NAME
            assert spec.side_effect in SIDE_EFFECTS
            assert spec.source == source.kind
            assert spec.source_id == source.source_id
            assert isinstance(spec.description, str)
            jsonschema_rs.validator_for(spec.parameters)  # a usable JSON schema

    async def test_names_are_unique(self, source: ToolSource) -> None:
        names = [spec.name for spec in source.tools()]
        assert len(names) == len(set(names))

    async def test_reports_healthy_when_started(self, source: ToolSource) -> None:
        assert source.health().status == "ok", source.health().detail

    async def test_sample_call_returns_its_result(self, source: ToolSource, sample_call) -> None:
        name, arguments, expected = sample_call
        spec = next(s for s in source.tools() if s.name == name)
        jsonschema_rs.validator_for(spec.parameters).validate(arguments)
        result = await source.call(name, arguments, context())
        assert isinstance(result, ToolResult)
        assert not result.is_error, result.text()
        assert expected in result.text()

    async def test_tool_failure_is_a_result_not_an_exception(self, source: ToolSource, failing_call) -> None:
        name, arguments = failing_call
        result = await source.call(name, arguments, context())
        assert result.is_error
        assert result.text()

    async def test_unknown_tool_raises_tool_not_found(self, source: ToolSource) -> None:
        with pytest.raises(ToolNotFound):
            await source.call("no_such_tool_" + uuid.uuid4().hex[:8], {}, context())

    async def test_refresh_keeps_the_same_tools_when_nothing_changed(self, source: ToolSource) -> None:
        before = {spec.name for spec in source.tools()}
        assert await source.refresh() is False
        assert {spec.name for spec in source.tools()} == before

    async def test_close_twice_is_harmless(self, source: ToolSource) -> None:
        await source.close()
        await source.close()

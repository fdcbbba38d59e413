from __future__ import annotations

import asyncio

from loopdesk.tools.base import ToolResult, ToolSource, ToolSpec, ToolUnavailable
from loopdesk.tools.registry import ToolRegistry
from tests.tools.conformance import context


class Fake(ToolSource):
    """A source under the test's control (what it lists, how it answers)."""

    kind = "python"

    def __init__(self, source_id: str, names: list[str], *, behaviour: str = "ok", healthy: bool = True):
        super().__init__(source_id)
        self.names = names
        self.behaviour = behaviour
        self.healthy = healthy
        self.calls: list[dict] = []

    async def start(self) -> None:
        self._set_health("ok" if self.healthy else "unavailable", None if self.healthy else "down for the test")

    def tools(self) -> list[ToolSpec]:
        schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]}
        return [ToolSpec(name, f"{name} tool", schema, "read", self.kind, self.source_id) for name in self.names]

    async def call(self, name, arguments, context):
        self.calls.append(arguments)
        if self.behaviour == "hang":
            await asyncio.sleep(60)
        if self.behaviour == "down":
            raise ToolUnavailable("connection refused")
        return ToolResult({"tool": name, "n": arguments["n"], "source": self.source_id})


async def registry_of(*sources: ToolSource) -> ToolRegistry:
    registry = ToolRegistry()
    for source in sources:
        await registry.add(source)
    return registry


async def test_arguments_that_violate_the_schema_go_back_to_the_model_and_nothing_is_called():
    source = Fake("a", ["count"])
    registry = await registry_of(source)
    for bad in ({}, {"n": "three"}, {"n": -1}, ["n"]):
        result = await registry.call("count", bad, context())
        assert result.is_error and "invalid arguments for count" in result.text()
    assert source.calls == []
    assert not (await registry.call("count", {"n": 3}, context())).is_error
    assert source.calls == [{"n": 3}]


async def test_an_earlier_source_keeps_its_tool_name():
    registry = await registry_of(Fake("first", ["shared", "a"]), Fake("second", ["shared", "b"]))
    assert sorted(s.name for s in registry.specs()) == ["a", "b", "shared"]
    assert (await registry.call("shared", {"n": 1}, context())).content["source"] == "first"


async def test_selectors_pick_by_name_glob_and_source():
    registry = await registry_of(Fake("crm", ["crm_get", "crm_put"]), Fake("misc", ["weather"]))
    assert {s.name for s in registry.select(["crm_*"])} == {"crm_get", "crm_put"}
    assert {s.name for s in registry.select(["python:misc/*"])} == {"weather"}
    assert {s.name for s in registry.select(["weather", "crm_get"])} == {"weather", "crm_get"}
    assert len(registry.select(None)) == 3
    assert registry.select([]) == []


async def test_a_hanging_tool_times_out_as_a_result():
    registry = await registry_of(Fake("slow", ["wait"], behaviour="hang"))
    ctx = context()
    ctx = type(ctx)(idempotency_key="k", timeout=0.2)
    result = await registry.call("wait", {"n": 1}, ctx)
    assert result.is_error and "did not answer within 0.2 s" in result.text()


async def test_an_unreachable_source_is_reported_to_the_model_and_listed_unavailable():
    registry = await registry_of(Fake("down", ["gone"], behaviour="down", healthy=False))
    result = await registry.call("gone", {"n": 1}, context())
    assert result.is_error and "unavailable" in result.text()
    [listed] = registry.listing()
    assert not listed.available and listed.detail == "down for the test"


async def test_unknown_tools_and_removed_sources():
    registry = await registry_of(Fake("a", ["x"]))
    assert (await registry.call("nope", {}, context())).is_error
    assert await registry.remove("python:a") is True
    assert registry.specs() == []
    assert await registry.remove("python:a") is False


async def test_a_schema_with_a_remote_ref_is_never_fetched_and_the_tool_is_not_called():
    class Remote(Fake):
        def tools(self):
            schema = {"type": "object", "properties": {"n": {"$ref": "http://169.254.169.254/latest/meta-data"}}}
            return [ToolSpec("remote", "x", schema, "read", self.kind, self.source_id)]

    source = Remote("r", [])
    registry = await registry_of(source)
    result = await registry.call("remote", {"n": 1}, context())
    assert result.is_error and "schema is invalid" in result.text()
    assert source.calls == []

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopdesk.tools.python import PythonSource, discover, load_file
from tests.tools.conformance import ToolSourceConformance, context
from tests.tools.conftest import plugin_module

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
async def source():
    made = PythonSource("shop_tools", load_file(PLUGINS / "shop_tools.py"), file=PLUGINS / "shop_tools.py")
    await made.start()
    yield made
    await made.close()


@pytest.fixture
def sample_call():
    return "lookup_order", {"order_id": "ORD-7"}, "delivered"


@pytest.fixture
def failing_call():
    return "lookup_order", {"order_id": "nope"}


class TestPluginFileConformance(ToolSourceConformance):
    pass


class TestBuiltinsConformance(ToolSourceConformance):
    @pytest.fixture
    async def source(self):
        made = next(s for s in discover(None) if s.source_id == "builtin")
        await made.start()
        yield made

    @pytest.fixture
    def sample_call(self):
        return "calculator", {"expression": "(12.5 + 7.5) * 3"}, "60"

    @pytest.fixture
    def failing_call(self):
        return "calculator", {"expression": "__import__('os').system('true')"}


def test_side_effects_come_from_the_declaration_and_default_to_write():
    from langchain_core.tools import tool

    @tool
    def undeclared(x: int) -> int:
        """A tool whose author did not say what it changes."""
        return x

    specs = {s.name: s for s in PythonSource("t", [undeclared, *load_file(PLUGINS / "shop_tools.py")]).tools()}
    assert specs["lookup_order"].side_effect == "read"
    assert specs["refund_order"].side_effect == "write"
    assert specs["delete_account"].side_effect == "destructive"
    assert specs["undeclared"].side_effect == "write"
    assert specs["refund_order"].mode_without_policy == "require_approval"
    assert specs["lookup_order"].mode_without_policy == "auto"


def test_builtin_memory_tool_runs_without_approval_by_default():
    builtin = next(s for s in discover(None) if s.source_id == "builtin")
    remember = next(s for s in builtin.tools() if s.name == "remember")
    assert remember.side_effect == "write" and remember.mode_without_policy == "auto"


def test_a_broken_plugin_file_is_skipped_and_the_others_load(tmp_path):
    (tmp_path / "good.py").write_text((PLUGINS / "shop_tools.py").read_text())
    (tmp_path / "broken.py").write_text((PLUGINS / "broken.py").read_text())
    ids = [s.source_id for s in discover(tmp_path)]
    assert ids == ["builtin", "good"]


async def test_the_call_context_reaches_the_tool(source):
    ctx = context()
    result = await source.call("refund_order", {"order_id": "ORD-1", "amount": 5}, ctx)
    assert result.text() == "refunded 5 for ORD-1"
    assert plugin_module().EXECUTED[-1]["key"] == ctx.idempotency_key


class TestSubprocessIsolation:
    async def test_runs_in_another_process(self, source):
        result = await source.call("crunch", {"kind": "ok"}, context())
        assert not result.is_error, result.text()
        assert result.text().startswith("ok from pid ") and result.text() != f"ok from pid {os.getpid()}"

    async def test_a_call_over_its_time_limit_is_stopped(self, source):
        result = await source.call("crunch", {"kind": "sleep"}, context())
        assert result.is_error and "longer than 5 s" in result.text()

    async def test_a_call_over_its_memory_limit_is_stopped(self, source):
        result = await source.call("crunch", {"kind": "hog"}, context())
        assert result.is_error and "memory" in result.text()

    async def test_a_failure_inside_is_the_tools_result(self, source):
        result = await source.call("crunch", {"kind": "fail"}, context())
        assert result.is_error and "asked to fail" in result.text()


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    (tmp_path / "acme_tools.py").write_text(
        "from loopdesk.tools.python import plugin_tool\n\n"
        "@plugin_tool(side_effect='read')\n"
        "def acme_status(ticket: str) -> str:\n"
        "    '''Status of an Acme ticket.'''\n"
        "    return 'open'\n\n"
        "TOOLS = [acme_status]\n"
    )
    dist = tmp_path / "acme_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[loopdesk.tools]\nacme = acme_tools:TOOLS\nbroken = acme_tools:NOPE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sources = {s.source_id: s for s in discover(None)}
    assert [spec.name for spec in sources["acme"].tools()] == ["acme_status"]
    assert "broken" not in sources  # logged and skipped

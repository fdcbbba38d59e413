"""The agents YAML: checked with the file and line of each problem; read agents get read tools only."""

from __future__ import annotations

import pytest

from loopdesk.support.agents import DEFAULT_DOCUMENT, AgentsConfigError, parse_agents
from loopdesk.tools.base import ToolPermissionError, ToolResult, ToolSource, ToolSpec
from loopdesk.tools.registry import ToolRegistry

SCHEMA = {"type": "object", "properties": {"amount": {"type": "number"}}}


class Shop(ToolSource):
    kind = "openapi"

    def __init__(self) -> None:
        super().__init__("shop")

    async def start(self) -> None:
        self._set_health("ok")

    def tools(self) -> list[ToolSpec]:
        reads = [ToolSpec(n, n, SCHEMA, "read", self.kind, self.source_id) for n in ("getOrder", "listOrders")]
        writes = [ToolSpec(n, n, SCHEMA, "write", self.kind, self.source_id) for n in ("cancelOrder", "createRefund")]
        return reads + writes

    async def call(self, name, arguments, context):
        return ToolResult({"ok": True})


@pytest.fixture
async def registry() -> ToolRegistry:
    registry = ToolRegistry()
    await registry.add(Shop())
    return registry


GOOD = """\
supervisor:
  escalate_intents: [human_agent]
agents:
  - name: orders
    description: Looks orders up.
    intents: [order_status]
    tools: [getOrder, "list*"]
    permission: read
  - name: refunds
    description: Refunds.
    intents: [refund]
    tools: ["openapi:shop/*"]
    permission: write
    limits:
      createRefund: {amount: {max: 200}}
"""


def test_a_valid_set_routes_intents_to_their_agents(registry):
    agents = parse_agents(GOOD, "agents.yaml", registry=registry, named_models=[])
    assert agents.agent_for("order_status").name == "orders"
    assert agents.agent_for("refund").name == "refunds"
    assert agents.agent_for("weather") is None
    assert agents.agent("refunds").limits["createRefund"]["amount"].max == 200


def test_the_built_in_set_sends_every_turn_to_its_one_agent():
    agents = parse_agents(DEFAULT_DOCUMENT, "built-in")
    assert not agents.routes_by_intent
    assert agents.agent_for(None).name == agents.agent_for("anything").name == "assistant"


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (('tools: [getOrder, "list*"]', "tools: [getOrder, nosuch]"), 7, "unknown tool 'nosuch'"),
        (("- name: refunds", "- name: orders"), 9, "duplicate agent name 'orders'"),
        (("permission: read", "permission: read\n    model: gpt-nope"), 9, "unknown named model 'gpt-nope'"),
        (('tools: [getOrder, "list*"]', "tools: [getOrder, cancelOrder]"), 7, "cancelOrder writes"),
        (("permission: read", "permission: maybe"), 8, "permission"),
        (("intents: [refund]", "intents: [order_status]"), 11, "routed to both 'orders' and 'refunds'"),
        (("createRefund: {amount", "deleteEverything: {amount"), 15, "unknown tool 'deleteEverything'"),
        (("description: Refunds.", "description: Refunds.\n    colour: blue"), 11, "colour"),
        (("agents:", "agents: [\n"), 5, "not valid YAML"),
    ],
)
def test_each_problem_names_the_file_and_line(registry, change, line, words):
    document = GOOD.replace(*change, 1)
    with pytest.raises(AgentsConfigError) as caught:
        parse_agents(document, "shop/agents.yaml", registry=registry, named_models=["default"])
    message = str(caught.value)
    assert message.startswith(f"shop/agents.yaml line {caught.value.line}:"), message
    assert caught.value.line == line, message
    assert words in message, message


def test_a_document_without_agents_is_refused():
    with pytest.raises(AgentsConfigError, match="agents"):
        parse_agents("supervisor: {}\n", "a.yaml")
    with pytest.raises(AgentsConfigError, match="mapping"):
        parse_agents("- just a list\n", "a.yaml")


def test_a_read_binding_is_refused_a_named_write_tool_and_globs_keep_reads_only(registry):
    with pytest.raises(ToolPermissionError, match="cancelOrder"):
        registry.bind(["getOrder", "cancelOrder"], permission="read")
    assert sorted(s.name for s in registry.bind(["*"], permission="read")) == ["getOrder", "listOrders"]
    assert sorted(s.name for s in registry.bind(["openapi:shop/*"], permission="write")) == [
        "cancelOrder", "createRefund", "getOrder", "listOrders",
    ]  # fmt: skip

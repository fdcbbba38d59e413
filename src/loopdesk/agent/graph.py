"""The general agent (`agent`): a tool-calling loop with short-term memory (the thread's checkpoints)
and long-term memory (the store, searched for what relates to the user's message). Its tools are
what the assistant's `tools` setting selects from the registry; every call goes through the gate
(policy, approvals, exactly-once records).

Assistant config (`config.configurable`): `model` (a named model, "provider:model" or {provider, model, ...};
default: the configured provider, else the offline model), `tools` (selectors, default all),
`system_prompt`, `memory` (default true), `max_tool_rounds` (default 8). All but `memory` are operator
settings: a customer's run may set `memory` only (runtime/caller_settings.py)."""

from __future__ import annotations

from typing import Any

import structlog
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.graph import END, START, MessagesState, StateGraph

from loopdesk.agent.usage import save_usage
from loopdesk.llm.factory import build_chat_model
from loopdesk.llm.usage import UsageRecorder
from loopdesk.tools import runtime as tool_runtime
from loopdesk.tools.base import ToolSpec
from loopdesk.tools.builtins import MEMORY_NAMESPACE
from loopdesk.tools.gate import Caller, ToolGate, close_unanswered
from loopdesk.tools.net import OutboundPolicy

log = structlog.get_logger("loopdesk.agent")

DEFAULT_PROMPT = (
    "You are loopdesk's assistant. Answer clearly and briefly. Use a tool when it can answer better than you "
    "can; some tools wait for a person's approval before they run, and the tool result says so. Never invent "
    "a tool result."
)
MAX_TOOL_ROUNDS = 8
CALLER_SETTINGS = frozenset({"memory"})


def _configurable(config: RunnableConfig) -> dict[str, Any]:
    return dict(config.get("configurable") or {})


def _as_tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
    }


async def _memories(messages: list[BaseMessage]) -> list[str]:
    last = messages[-1] if messages else None
    if not isinstance(last, HumanMessage) or not isinstance(last.content, str) or not last.content.strip():
        return []
    try:
        items = await get_store().asearch(MEMORY_NAMESPACE, query=last.content[:1000], limit=3)
    except Exception:  # noqa: BLE001 - recall is a help, never the reason a turn fails
        log.warning("agent.memory_search_failed")
        return []
    return [str(item.value.get("text")) for item in items if item.value.get("text")]


def tool_rounds(messages: list[BaseMessage]) -> int:
    """Tool rounds since the user last spoke."""
    count = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            count += 1
    return count


async def call_model(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    runtime = tool_runtime.current()
    registry = await runtime.fresh_registry()
    conf = _configurable(config)
    specs = registry.select(conf.get("tools"))
    # Models from the factory retry retryable errors themselves (classified, with backoff).
    outbound = OutboundPolicy.from_allowlist(runtime.settings.outbound.allowlist)
    model = build_chat_model(conf.get("model"), runtime.settings.llm, operator=False, policy=outbound)
    enough = tool_rounds(state["messages"]) >= int(conf.get("max_tool_rounds") or MAX_TOOL_ROUNDS)
    bound: Any = model.bind_tools([_as_tool(s) for s in specs]) if specs and not enough else model
    recorder = UsageRecorder(runtime.settings.llm.llm_prices)
    prompt = str(conf.get("system_prompt") or DEFAULT_PROMPT)
    if conf.get("memory", True) and (remembered := await _memories(state["messages"])):
        prompt += "\n\nWhat you remember about this user:\n" + "\n".join(f"- {m}" for m in remembered)
    conversation, unanswered = close_unanswered(state["messages"])
    if unanswered:  # the user moved on while calls waited for approval: those calls will never run
        await ToolGate(runtime, Caller.of(config), None).withdraw(unanswered)
    response = await bound.with_config(callbacks=[recorder]).ainvoke([SystemMessage(prompt), *conversation], config)
    await save_usage(runtime.database, recorder, Caller.of(config))
    return {"messages": [response]}


async def call_tools(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    runtime = tool_runtime.current()
    last = state["messages"][-1]
    calls = list(getattr(last, "tool_calls", None) or [])
    registry = await runtime.fresh_registry()  # a resumed run may land on a worker that has not looked yet
    allowed = {spec.name for spec in registry.select(_configurable(config).get("tools"))}
    gate = ToolGate(runtime, Caller.of(config), allowed)
    return {"messages": await gate.run(calls)}


def _next(state: MessagesState) -> str:
    last = state["messages"][-1] if state["messages"] else None
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def build() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    graph.add_node("tools", call_tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", _next, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph


graph = build().compile(name="agent")

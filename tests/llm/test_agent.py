"""The local models drive a real LangGraph agent (model node + ToolNode + checkpointer) end to end,
and stream tokens with stream_mode="messages"."""

from __future__ import annotations

import uuid
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from loopdesk.llm import OfflineChatModel, ScriptedChatModel, UsageRecorder
from loopdesk.llm.offline import PENDING_KEY, PREFIX

SCRIPT = """
turns:
  - expect: "(?i)order"
    tool_calls:
      - {name: get_order, args: {order_id: ORD-1}}
  - content: Your order ORD-1 has shipped and arrives on 2024-05-02.
  - expect: "(?i)refund"
    tool_calls:
      - {name: refund_order, args: {order_id: ORD-1, amount: 10, reason: late}}
  - content: Refunded 10 on ORD-1.
"""
REFUNDS: list[dict] = []


@tool
def get_order(order_id: str) -> dict:
    """Look up an order's status and delivery date by its id."""
    return {"order_id": order_id, "status": "shipped", "eta": "2024-05-02"}


@tool
def refund_order(order_id: str, amount: float, reason: str) -> dict:
    """Refund an order to the customer's payment method."""
    REFUNDS.append({"order_id": order_id, "amount": amount, "reason": reason})
    return {"refunded": amount, "order_id": order_id}


TOOLS = [get_order, refund_order]


def build_agent(model: BaseChatModel, checkpointer: InMemorySaver):
    bound = model.bind_tools(TOOLS)

    async def call_model(state: MessagesState) -> dict:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)


def _thread() -> dict:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def _stream_tokens(agent, text: str, config: dict) -> tuple[list[str], list[AIMessageChunk]]:
    tokens, chunks = [], []
    async for message, metadata in agent.astream({"messages": [HumanMessage(text)]}, config, stream_mode="messages"):
        if metadata["langgraph_node"] == "model" and isinstance(message, AIMessageChunk):
            chunks.append(message)
            if message.content:
                tokens.append(message.content)
    return tokens, chunks


async def test_a_scripted_agent_calls_the_tool_and_answers():
    agent = build_agent(ScriptedChatModel.load(SCRIPT), InMemorySaver())
    result = await agent.ainvoke({"messages": [HumanMessage("Where is my order?")]}, _thread())
    human, call, tool_result, answer = result["messages"]
    assert call.tool_calls[0]["name"] == "get_order"
    assert isinstance(tool_result, ToolMessage) and '"status": "shipped"' in tool_result.content
    assert answer.content == "Your order ORD-1 has shipped and arrives on 2024-05-02."


async def test_scripted_tokens_stream_in_messages_mode():
    agent = build_agent(ScriptedChatModel.load(SCRIPT), InMemorySaver())
    tokens, chunks = await _stream_tokens(agent, "Where is my order?", _thread())
    assert tokens == ["Your ", "order ", "ORD-1 ", "has ", "shipped ", "and ", "arrives ", "on ", "2024-05-02."]
    assert any(chunk.tool_call_chunks and chunk.tool_call_chunks[0]["name"] == "get_order" for chunk in chunks)


async def test_a_thread_resumed_by_a_new_model_instance_continues_the_script(tmp_path: Path):
    script = tmp_path / "support.yaml"
    script.write_text(SCRIPT)
    saver, config = InMemorySaver(), _thread()
    first_worker = build_agent(ScriptedChatModel.load(str(script)), saver)
    await first_worker.ainvoke({"messages": [HumanMessage("Where is my order?")]}, config)
    second_worker = build_agent(ScriptedChatModel.load(str(script)), saver)  # as if in another process
    REFUNDS.clear()
    result = await second_worker.ainvoke({"messages": [HumanMessage("Please refund it, it was late")]}, config)
    assert REFUNDS == [{"order_id": "ORD-1", "amount": 10, "reason": "late"}]
    assert result["messages"][-1].content == "Refunded 10 on ORD-1."
    assert len(result["messages"]) == 8


async def test_the_offline_agent_calls_the_tool_and_answers_from_its_result():
    recorder = UsageRecorder(prices={})
    agent = build_agent(OfflineChatModel(), InMemorySaver())
    config = {**_thread(), "callbacks": [recorder]}
    result = await agent.ainvoke({"messages": [HumanMessage("Where is my order ORD-1234?")]}, config)
    _, call, tool_result, answer = result["messages"]
    assert call.tool_calls[0]["args"] == {"order_id": "ORD-1234"}
    assert tool_result.tool_call_id == call.tool_calls[0]["id"]
    assert answer.content == f"{PREFIX}get_order returned: order id: ORD-1234; status: shipped; eta: 2024-05-02."
    assert [(r.provider, r.model) for r in recorder.records] == [("offline", "offline")] * 2
    assert recorder.totals().calls == 2 and recorder.totals().input_tokens > 0


async def test_the_offline_agent_asks_then_completes_across_checkpointed_turns():
    REFUNDS.clear()
    agent, config = build_agent(OfflineChatModel(), InMemorySaver()), _thread()
    first = await agent.ainvoke({"messages": [HumanMessage("Please refund order ORD-2002")]}, config)
    question = first["messages"][-1]
    assert isinstance(question, AIMessage) and question.additional_kwargs[PENDING_KEY]["missing"] == [
        "amount",
        "reason",
    ]
    assert REFUNDS == []
    second = await agent.ainvoke({"messages": [HumanMessage("$30, it arrived broken")]}, config)
    assert REFUNDS == [{"order_id": "ORD-2002", "amount": 30, "reason": "arrived broken"}]
    assert second["messages"][-1].content == f"{PREFIX}refund_order returned: refunded: 30.0; order id: ORD-2002."


async def test_offline_tokens_stream_in_messages_mode():
    agent = build_agent(OfflineChatModel(), InMemorySaver())
    tokens, chunks = await _stream_tokens(agent, "Where is my order ORD-1234?", _thread())
    assert len(tokens) > 5
    assert "".join(tokens) == f"{PREFIX}get_order returned: order id: ORD-1234; status: shipped; eta: 2024-05-02."
    assert any(chunk.tool_call_chunks for chunk in chunks)

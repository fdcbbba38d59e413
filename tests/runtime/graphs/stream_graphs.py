"""Graphs the thread-stream tests drive: a chat model that streams its words and a tool call, and the
same agent run as a subgraph (its messages and lifecycle then live on a child namespace)."""

import re
from collections.abc import Iterator
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict


@tool
def lookup_order(order_id: str) -> str:
    """Where an order is."""
    return f"order {order_id} has shipped"


class _ToolCallingFakeModel(GenericFakeChatModel):
    """Asks for `lookup_order` until a tool result is in the conversation, then answers with it; streams
    its words one by one and the tool call's arguments in two pieces (no chunk says it is the last: a
    provider's stream just ends, and a `last` chunk would finalise the tool call from its own piece)."""

    messages: Any = iter(())

    def bind_tools(self, tools: Any, **kwargs: Any) -> "_ToolCallingFakeModel":
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        return ChatResult(generations=[ChatGeneration(message=_reply(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        reply = _reply(messages)
        pieces = [AIMessageChunk(content=word) for word in re.split(r"(\s)", str(reply.content)) if word]
        for call in reply.tool_calls:
            args = f'{{"order_id": "{call["args"]["order_id"]}"}}'
            first = {"name": call["name"], "args": args[:5], "id": call["id"], "index": 0}
            pieces.append(AIMessageChunk(content="", tool_call_chunks=[first]))
            pieces.append(AIMessageChunk(content="", tool_call_chunks=[{"args": args[5:], "index": 0}]))
        for piece in pieces:
            chunk = ChatGenerationChunk(message=piece)
            if run_manager:
                run_manager.on_llm_new_token(str(piece.content), chunk=chunk)
            yield chunk


def _reply(messages: list[BaseMessage]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(content=f"Good news: {last.content}")
    call = {"name": "lookup_order", "args": {"order_id": "A-17"}, "id": "call-lookup-1", "type": "tool_call"}
    return AIMessage(content="Let me check", tool_calls=[call])


class AgentState(TypedDict):
    messages: Annotated[list, add_messages]


_model = _ToolCallingFakeModel().bind_tools([lookup_order])


async def _agent(state: AgentState) -> dict:
    return {"messages": [await _model.ainvoke(state["messages"])]}


def _route(state: AgentState) -> str:
    return "tools" if state["messages"][-1].tool_calls else END


_builder = StateGraph(AgentState)
_builder.add_node("agent", _agent)
_builder.add_node("tools", ToolNode([lookup_order]))
_builder.add_edge(START, "agent")
_builder.add_conditional_edges("agent", _route, ["tools", END])
_builder.add_edge("tools", "agent")
tool_agent = _builder.compile()

# The agent as a node of a parent graph: its events carry the namespace ["subgraph_agent:<task id>"].
_parent = StateGraph(AgentState)
_parent.add_node("subgraph_agent", tool_agent)
_parent.add_edge(START, "subgraph_agent")
_parent.add_edge("subgraph_agent", END)
nested_agent = _parent.compile()

"""Graphs the run tests drive: interrupts, slow steps, failures, custom events, chat messages."""

import asyncio
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from typing_extensions import TypedDict


def _append(left: list, right: list) -> list:
    return left + right


class StepState(TypedDict, total=False):
    steps: Annotated[list[str], _append]
    delay: float
    answer: str


async def first(state: StepState) -> dict:
    get_stream_writer()({"progress": "first"})
    await asyncio.sleep(state.get("delay", 0))
    return {"steps": ["first"]}


async def second(state: StepState) -> dict:
    await asyncio.sleep(state.get("delay", 0))
    return {"steps": ["second"]}


def ask(state: StepState) -> dict:
    answer = interrupt({"question": "approve?", "steps": state.get("steps", [])})
    return {"answer": str(answer), "steps": ["asked"]}


def explode(state: StepState) -> dict:
    raise ValueError("the graph broke on purpose")


def _steps(*nodes):
    builder = StateGraph(StepState)
    previous = START
    for node in nodes:
        builder.add_node(node.__name__, node)
        builder.add_edge(previous, node.__name__)
        previous = node.__name__
    return builder.compile()


slow = _steps(first, second)
approval = _steps(first, ask, second)
failing = _steps(first, explode)


class ChatState(TypedDict):
    messages: Annotated[list, add_messages]


_model = GenericFakeChatModel(messages=iter([AIMessage(content="hello there friend", id="ai-1")] * 1000))


async def chat_node(state: ChatState) -> dict:
    return {"messages": [await _model.ainvoke(state["messages"])]}


_chat_builder = StateGraph(ChatState)
_chat_builder.add_node("chat", chat_node)
_chat_builder.add_edge(START, "chat")
chat = _chat_builder.compile()

# A parent graph that runs `slow` as a subgraph (stream_subgraphs).
_parent_builder = StateGraph(StepState)
_parent_builder.add_node("inner", slow)
_parent_builder.add_edge(START, "inner")
parent = _parent_builder.compile()


# -- chat graphs for the WebSocket tests -------------------------------------------------------------


class _SlowFakeChatModel(GenericFakeChatModel):
    """Streams its reply word by word with a pause between words (a model that takes its time)."""

    delay: float = 0.02

    async def _astream(self, *args, **kwargs):
        async for chunk in super()._astream(*args, **kwargs):
            await asyncio.sleep(self.delay)
            yield chunk


_story_words = " ".join(f"w{i}" for i in range(40))
_story_model = _SlowFakeChatModel(messages=iter([AIMessage(content=_story_words)] * 1000))


async def story_node(state: ChatState) -> dict:
    return {"messages": [await _story_model.ainvoke(state["messages"])]}


_story_builder = StateGraph(ChatState)
_story_builder.add_node("storyteller", story_node)
_story_builder.add_edge(START, "storyteller")
story = _story_builder.compile()


def _refund_agent(state: ChatState) -> dict:
    """Asks for a refund tool call, then answers with the tool's result."""
    last = state["messages"][-1]
    if isinstance(last, ToolMessage):
        return {"messages": [AIMessage(content=f"Done: {last.content}")]}
    call = {"name": "refund_order", "args": {"order_id": "A-17", "amount": 20}, "id": f"call-{len(state['messages'])}"}
    return {"messages": [AIMessage(content="", tool_calls=[call])]}


def _refund_tools(state: ChatState) -> dict:
    """Every refund waits for a human decision (approve / reject with a message / edit the args)."""
    call = state["messages"][-1].tool_calls[0]
    decision = interrupt({"action": call["name"], "params": call["args"], "description": "Refund an order"})
    if decision.get("type") == "reject":
        content = f"not done: {decision.get('message') or 'rejected'}"
    else:
        args = decision.get("args") or call["args"]
        content = f"refunded {args['order_id']} {args['amount']}"
    return {"messages": [ToolMessage(content=content, name=call["name"], tool_call_id=call["id"])]}


def _after_agent(state: ChatState) -> str:
    return "tools" if state["messages"][-1].tool_calls else END


_refund_builder = StateGraph(ChatState)
_refund_builder.add_node("agent", _refund_agent)
_refund_builder.add_node("tools", _refund_tools)
_refund_builder.add_edge(START, "agent")
_refund_builder.add_conditional_edges("agent", _after_agent, ["tools", END])
_refund_builder.add_edge("tools", "agent")
refund = _refund_builder.compile()


def _clarify_node(state: ChatState) -> dict:
    answer = interrupt({"type": "clarification", "message": "Which order do you mean?"})
    return {"messages": [AIMessage(content=f"Looking at {answer}")]}


_clarify_builder = StateGraph(ChatState)
_clarify_builder.add_node("clarify", _clarify_node)
_clarify_builder.add_edge(START, "clarify")
clarify = _clarify_builder.compile()


class BulkState(TypedDict, total=False):
    messages: Annotated[list, add_messages]


async def _bulk_node(state: BulkState) -> dict:
    """Writes many large custom events quickly: enough to fill a socket that is not read."""
    write = get_stream_writer()
    for i in range(300):
        write({"i": i, "pad": "x" * 48_000})
        if i % 50 == 0:
            await asyncio.sleep(0)
    return {}


_bulk_builder = StateGraph(BulkState)
_bulk_builder.add_node("bulk", _bulk_node)
_bulk_builder.add_edge(START, "bulk")
bulk = _bulk_builder.compile()

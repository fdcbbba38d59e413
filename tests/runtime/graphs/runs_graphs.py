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


def _steps(*nodes, state: type = StepState):
    """A graph running the nodes one after the other: functions (named after themselves) or
    (name, node) pairs."""
    builder = StateGraph(state)
    previous = START
    for node in nodes:
        name, node = node if isinstance(node, tuple) else (node.__name__, node)
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    return builder.compile()


slow = _steps(first, second)
approval = _steps(first, ask, second)
failing = _steps(first, explode)


class ChatState(TypedDict):
    messages: Annotated[list, add_messages]


_model = GenericFakeChatModel(messages=iter([AIMessage(content="hello there friend", id="ai-1")] * 1000))


async def chat_node(state: ChatState) -> dict:
    return {"messages": [await _model.ainvoke(state["messages"])]}


chat = _steps(("chat", chat_node), state=ChatState)

# A parent graph that runs `slow` as a subgraph (stream_subgraphs).
parent = _steps(("inner", slow))


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


story = _steps(("storyteller", story_node), state=ChatState)


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


clarify = _steps(("clarify", _clarify_node), state=ChatState)


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


bulk = _steps(("bulk", _bulk_node), state=BulkState)

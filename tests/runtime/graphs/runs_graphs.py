"""Graphs the run tests drive: interrupts, slow steps, failures, custom events, chat messages."""

import asyncio
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
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

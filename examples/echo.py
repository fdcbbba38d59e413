"""A demo graph for `make run`: it answers every message with a count of what it has seen.

Replace it with your own: any LangGraph graph (compiled, a StateGraph, or a factory taking a config)
listed in langgraph.json is served with `loopdesk serve --config langgraph.json`."""

from typing import Annotated

from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class State(TypedDict):
    messages: Annotated[list, add_messages]


def reply(state: State) -> dict:
    seen = sum(1 for message in state["messages"] if message.type == "human")
    last = state["messages"][-1].text if state["messages"] else ""  # text blocks (agent-chat-ui) read as text
    return {"messages": [("ai", f"You said: {last!s} (message {seen} in this thread)")]}


builder = StateGraph(State)
builder.add_node("reply", reply)
builder.add_edge(START, "reply")
graph = builder.compile()

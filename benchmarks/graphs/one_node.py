"""The runtime benchmark's graph: one node, trivial work, so the numbers are the runtime's cost."""

from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    n: int


def bump(state: State) -> dict:
    return {"n": state.get("n", 0) + 1}


builder = StateGraph(State)
builder.add_node("bump", bump)
builder.add_edge(START, "bump")
graph = builder.compile()

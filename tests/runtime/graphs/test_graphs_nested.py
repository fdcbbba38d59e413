"""A graph with a subgraph, imported as a module (`module:attr`) through `dependencies`."""

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


class Inner(TypedDict):
    text: str


def shout(state: Inner) -> dict:
    return {"text": state["text"].upper()}


inner_builder = StateGraph(Inner)
inner_builder.add_node("shout", shout)
inner_builder.add_edge(START, "shout")
inner = inner_builder.compile()

outer_builder = StateGraph(Inner)
outer_builder.add_node("inner", inner)
outer_builder.add_edge(START, "inner")
graph = outer_builder.compile()

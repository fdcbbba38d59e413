"""Graphs the runtime tests serve."""

from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


def _append(left: list, right: list) -> list:
    return left + right


class EchoState(TypedDict):
    messages: Annotated[list[str], _append]
    count: int


def echo(state: EchoState) -> dict:
    last = state["messages"][-1] if state["messages"] else ""
    return {"messages": [f"echo: {last}"], "count": state.get("count", 0) + 1}


builder = StateGraph(EchoState)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
builder.add_edge("echo", END)
graph = builder.compile()


def make_graph(config: RunnableConfig):
    """A factory: the prefix comes from the assistant's configurable, so it is built per run."""
    prefix = config.get("configurable", {}).get("prefix", "says")

    def speak(state: EchoState) -> dict:
        return {"messages": [f"{prefix}: {state['messages'][-1]}"]}

    factory_builder = StateGraph(EchoState)
    factory_builder.add_node("speak", speak)
    factory_builder.add_edge(START, "speak")
    return factory_builder

"""Graphs that read their run context: the react-agent template's form (a dataclass `context_schema` read by a
node), and a factory in the LangGraph server's `(config, runtime: ServerRuntime)` async-context-manager form."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph_sdk.runtime import ServerRuntime
from typing_extensions import TypedDict


def _append(left: list, right: list) -> list:
    return left + right


class Said(TypedDict):
    messages: Annotated[list[str], _append]


@dataclass
class Tone:
    tone: str = "plain"
    punctuation: str = "."


def answer(state: Said, runtime: Runtime[Tone]) -> dict:
    return {"messages": [f"{runtime.context.tone}: {state['messages'][-1]}{runtime.context.punctuation}"]}


builder = StateGraph(Said, context_schema=Tone)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
toned = builder.compile()


@contextlib.asynccontextmanager
async def opened(config: RunnableConfig, runtime: ServerRuntime):
    """Says what it was opened with: the use, the caller, and (in a run) the run's context."""
    execution = runtime.execution_runtime
    seen = f"{runtime.access_context} by {runtime.user.identity}, context {execution.context if execution else None}"

    def report(state: Said) -> dict:
        return {"messages": [seen]}

    graph = StateGraph(Said)
    graph.add_node("report", report)
    graph.add_edge(START, "report")
    yield graph.compile()

"""The chaos benchmark's graph (benchmarks/chaos.py): CHAOS_STEPS steps in a row, each doing its side effect as a
real tool does, by an HTTP call to another system: the benchmark's recorder, which counts the calls per (run, step)
and notes which process made each. A step that runs again after a fault shows up there as a second call.

Each step works a little first (an await, then some CPU without awaiting: a busy loop, as under load), makes its
call, then returns; the checkpoint LangGraph writes after the step is what makes it done."""

from __future__ import annotations

import asyncio
import operator
import os
import random
import time
from typing import Annotated, Any, TypedDict

import httpx
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph

STEPS = int(os.environ.get("CHAOS_STEPS", "5"))
RECORDER = os.environ.get("CHAOS_RECORDER_URL", "")
WORK_SECONDS = float(os.environ.get("CHAOS_STEP_SECONDS", "0.4"))  # mean await per step
CPU_SECONDS = float(os.environ.get("CHAOS_STEP_CPU_SECONDS", "0.02"))  # busy loop per step

_client: httpx.AsyncClient | None = None


class State(TypedDict, total=False):
    done: Annotated[list[str], operator.add]


def _burn(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def _record(run_id: str, step: int) -> None:
    global _client
    if not RECORDER:
        raise RuntimeError("CHAOS_RECORDER_URL is not set: the chaos graph has nowhere to record its side effects")
    if _client is None:
        _client = httpx.AsyncClient(timeout=10)
    response = await _client.post(RECORDER, json={"run_id": run_id, "step": step, "pid": os.getpid()})
    response.raise_for_status()


def _step(index: int):
    name = f"step{index}"

    async def step(state: State, config: RunnableConfig) -> dict[str, Any]:
        await asyncio.sleep(random.uniform(0.5, 1.5) * WORK_SECONDS)
        _burn(CPU_SECONDS)
        await _record(config["configurable"]["run_id"], index)
        get_stream_writer()({"step": index, "pid": os.getpid()})
        return {"done": [name]}

    return name, step


builder = StateGraph(State)
previous = START
for number in range(1, STEPS + 1):
    node, action = _step(number)
    builder.add_node(node, action)
    builder.add_edge(previous, node)
    previous = node
graph = builder.compile()

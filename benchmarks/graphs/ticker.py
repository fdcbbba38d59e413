"""A chat graph whose model streams tokens stamped with the wall-clock time they were emitted, so a
client can measure the delivery latency of each token (benchmarks/realtime.py)."""

import asyncio
import os
import time
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

TOKENS = int(os.environ.get("TICKER_TOKENS", "20"))
INTERVAL = float(os.environ.get("TICKER_INTERVAL", "0.05"))


class _Ticker(GenericFakeChatModel):
    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        for _ in range(TOKENS):
            await asyncio.sleep(INTERVAL)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=f"{time.time():.6f};"))
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


_model = _Ticker(messages=iter([AIMessage(content="unused")]))


class State(TypedDict):
    messages: Annotated[list, add_messages]


async def speak(state: State) -> dict:
    return {"messages": [await _model.ainvoke(state["messages"])]}


builder = StateGraph(State)
builder.add_node("speak", speak)
builder.add_edge(START, "speak")
graph = builder.compile()

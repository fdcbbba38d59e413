"""price() and UsageRecorder: tokens, cost and latency per call, streamed or not, from concurrent tasks."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from loopdesk.llm import ScriptedChatModel, UsageRecorder, price
from loopdesk.llm.settings import DEFAULT_PRICES

PRICES = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "claude-3-5-sonnet": (3.0, 15.0), "scripted": (1.0, 2.0)}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", (1000 * 2.5 + 500 * 10.0) / 1e6),
        ("gpt-4o-mini-2024-07-18", (1000 * 0.15 + 500 * 0.6) / 1e6),  # dated: the longest matching name wins
        ("gpt-4o-2024-11-20", (1000 * 2.5 + 500 * 10.0) / 1e6),
        ("openai/gpt-4o-mini", (1000 * 0.15 + 500 * 0.6) / 1e6),  # OpenRouter names its vendor first
        ("anthropic/claude-3.5-sonnet", (1000 * 3.0 + 500 * 15.0) / 1e6),
        ("GPT-4O", (1000 * 2.5 + 500 * 10.0) / 1e6),
        ("gpt-4oo", None),
        ("llama3.1", None),
        (None, None),
    ],
)
def test_price_by_model_name(model, expected):
    cost = price(model, 1000, 500, PRICES)
    assert cost == (pytest.approx(expected) if expected is not None else None)


def test_the_default_table_prices_well_known_models():
    for model in ("gpt-4o-mini", "gpt-4o", "qwen-plus", "qwen-max", "claude-sonnet-4-20250514", "claude-haiku-4-5"):
        assert price(model, 1_000_000, 0, DEFAULT_PRICES) > 0
    assert price("claude-opus-4-5-20251101", 1_000_000, 0, DEFAULT_PRICES) == 5.0  # not the older opus-4 price


def _model() -> ScriptedChatModel:
    return ScriptedChatModel.load([{"content": "one two three"}, {"content": "four five"}])


def test_recorder_records_invoked_and_streamed_calls():
    recorder = UsageRecorder(PRICES)
    model = _model()
    model.invoke([HumanMessage("hello there")], config={"callbacks": [recorder]})
    chunks = list(
        model.stream([HumanMessage("hi"), AIMessage("one two three"), HumanMessage("more")], {"callbacks": [recorder]})
    )
    assert "".join(chunk.content for chunk in chunks) == "four five"
    first, second = recorder.records
    assert (first.provider, first.model) == ("scripted", "scripted")
    assert (first.input_tokens, first.output_tokens, first.total_tokens) == (2, 3, 5)
    assert (second.input_tokens, second.output_tokens, second.total_tokens) == (5, 2, 7)
    assert first.cost_usd == pytest.approx((2 * 1.0 + 3 * 2.0) / 1e6)
    assert first.latency_ms >= 0 and second.latency_ms >= 0
    totals = recorder.totals()
    assert (totals.calls, totals.input_tokens, totals.output_tokens, totals.total_tokens) == (2, 7, 5, 12)
    assert totals.cost_usd == pytest.approx((7 * 1.0 + 5 * 2.0) / 1e6) and totals.unpriced_calls == 0


def test_unknown_models_have_no_cost():
    recorder = UsageRecorder(prices={})
    _model().invoke("hi", config={"callbacks": [recorder]})
    assert recorder.records[0].cost_usd is None
    assert recorder.totals().cost_usd is None and recorder.totals().unpriced_calls == 1


async def test_concurrent_calls_are_all_recorded():
    recorder = UsageRecorder(prices=PRICES)
    model = _model()
    await asyncio.gather(*(model.ainvoke(f"request {i}", config={"callbacks": [recorder]}) for i in range(20)))
    assert recorder.totals().calls == 20 and recorder.totals().output_tokens == 60


def test_tokens_fall_back_to_the_provider_llm_output():
    recorder = UsageRecorder(prices=PRICES)
    run_id = uuid.uuid4()
    metadata = {"ls_provider": "openai", "ls_model_name": "gpt-4o"}
    recorder.on_chat_model_start({}, [[HumanMessage("hi")]], run_id=run_id, metadata=metadata)
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    result = LLMResult(
        generations=[[ChatGeneration(message=AIMessage("hello"))]],
        llm_output={"token_usage": usage, "model_name": "gpt-4o-2024-08-06"},
    )
    recorder.on_llm_end(result, run_id=run_id)
    [record] = recorder.records
    assert (record.provider, record.model, record.input_tokens, record.output_tokens) == (
        "openai",
        "gpt-4o-2024-08-06",
        100,
        20,
    )
    assert record.cost_usd == pytest.approx((100 * 2.5 + 20 * 10.0) / 1e6)


def test_failed_calls_are_not_recorded():
    recorder = UsageRecorder(prices=PRICES)
    model = ScriptedChatModel.load([{"content": "ok", "expect": "^refund"}])
    with pytest.raises(RuntimeError):
        model.invoke("hello", config={"callbacks": [recorder]})
    assert recorder.records == [] and recorder._started == {}

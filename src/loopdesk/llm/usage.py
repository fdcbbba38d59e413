"""Tokens, cost and latency of every model call, collected by a callback handler."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from loopdesk.llm.settings import LLMSettings

Prices = Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class UsageRecord:
    provider: str  # "unknown" when the model did not say
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None  # None: no price known for the model
    latency_ms: float


@dataclass(frozen=True)
class UsageTotals:
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None  # the priced calls only; None when none was priced
    unpriced_calls: int


def _normalise(model: str) -> str:
    # "openai/gpt-4o" (OpenRouter) -> "gpt-4o"; "claude-3.5-sonnet" and "claude-3-5-sonnet" are the same model.
    name = model.strip().lower().rsplit("/", 1)[-1]
    return re.sub(r"(?<=\d)\.(?=\d)", "-", name)


def price(model: str | None, input_tokens: int, output_tokens: int, prices: Prices) -> float | None:
    """USD for one call: the exact model name, else the longest price key it starts with (dated versions)."""
    if not model:
        return None
    name = _normalise(model)
    best: tuple[float, float] | None = None
    best_length = -1
    for key, per_million in prices.items():
        wanted = _normalise(key)
        exact = name == wanted
        prefixed = len(name) > len(wanted) and name.startswith(wanted) and name[len(wanted)] in "-:@_"
        if (exact or prefixed) and len(wanted) > best_length:
            best, best_length = per_million, len(wanted)
    if best is None:
        return None
    return (input_tokens * best[0] + output_tokens * best[1]) / 1_000_000


@dataclass
class _Started:
    at: float
    provider: str | None
    model: str | None


class UsageRecorder(BaseCallbackHandler):
    """Pass in `config={"callbacks": [recorder]}`; thread- and task-safe, for streamed and whole responses.

    Prices come from a table (`settings.llm_prices`), from the settings themselves, or from the environment."""

    run_inline = True  # recorded on the caller's thread/loop, never deferred to an executor

    def __init__(self, prices: Prices | LLMSettings | None = None) -> None:
        if prices is None:
            prices = LLMSettings()
        self.prices: Prices = dict(prices.llm_prices if isinstance(prices, LLMSettings) else prices)
        self.records: list[UsageRecord] = []
        self._started: dict[UUID, _Started] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        provider = metadata.get("loopdesk_llm_provider") or metadata.get("ls_provider")
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
        with self._lock:
            self._started[run_id] = _Started(time.perf_counter(), provider, model)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            started = self._started.pop(run_id, None)
        if started is None:
            return
        latency_ms = (time.perf_counter() - started.at) * 1000
        input_tokens, output_tokens, total_tokens, answered_by = response_usage(response)
        model = answered_by or started.model
        cost = price(model, input_tokens, output_tokens, self.prices)
        if cost is None and started.model != model:
            cost = price(started.model, input_tokens, output_tokens, self.prices)
        record = UsageRecord(
            provider=started.provider or "unknown",
            model=model or "unknown",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
        )
        with self._lock:
            self.records.append(record)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._started.pop(run_id, None)

    def totals(self) -> UsageTotals:
        with self._lock:
            records = list(self.records)
        priced = [record.cost_usd for record in records if record.cost_usd is not None]
        return UsageTotals(
            calls=len(records),
            input_tokens=sum(record.input_tokens for record in records),
            output_tokens=sum(record.output_tokens for record in records),
            total_tokens=sum(record.total_tokens for record in records),
            cost_usd=sum(priced) if priced else None,
            unpriced_calls=len(records) - len(priced),
        )


def response_usage(response: LLMResult) -> tuple[int, int, int, str | None]:
    """Tokens from the message's usage_metadata (streamed or not), else from the provider's llm_output."""
    message = None
    if response.generations and response.generations[0]:
        generation = response.generations[0][0]
        message = generation.message if isinstance(generation, ChatGeneration) else None
    output = response.llm_output or {}
    model = None
    if message is not None:
        model = message.response_metadata.get("model_name") or message.response_metadata.get("model")
    model = model or output.get("model_name") or output.get("model")
    usage = getattr(message, "usage_metadata", None)
    if usage:
        inputs, outputs = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        return inputs, outputs, int(usage.get("total_tokens", inputs + outputs)), model
    raw = output.get("token_usage") or output.get("usage") or {}
    if not isinstance(raw, Mapping):
        raw = getattr(raw, "__dict__", {})
    inputs = int(raw.get("prompt_tokens", raw.get("input_tokens", 0)) or 0)
    outputs = int(raw.get("completion_tokens", raw.get("output_tokens", 0)) or 0)
    return inputs, outputs, int(raw.get("total_tokens", inputs + outputs) or 0), model

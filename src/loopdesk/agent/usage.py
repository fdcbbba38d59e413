"""Persisting what a model call cost: one `llm_usage` row per call, and the token counters."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from loopdesk.core.metrics import LLM_COST, LLM_TOKENS
from loopdesk.llm.models import LLMUsage
from loopdesk.llm.repository import UsageRepository

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from loopdesk.core.db import Database
    from loopdesk.llm.usage import UsageRecorder
    from loopdesk.tools.gate import Caller


async def save_usage(database: Database, recorder: UsageRecorder, caller: Caller) -> None:
    if not recorder.records:
        return
    async with database.sessionmaker() as session, session.begin():
        add_usage(session, recorder, caller)


def add_usage(session: AsyncSession, recorder: UsageRecorder, caller: Caller) -> tuple[int, Decimal]:
    """The calls' rows added to the caller's transaction; returns their tokens and cost."""
    tokens, cost = 0, Decimal(0)
    usage = UsageRepository(session)
    for item in recorder.records:
        provider = item.provider or "unknown"
        LLM_TOKENS.labels(provider, "input").inc(item.input_tokens)
        LLM_TOKENS.labels(provider, "output").inc(item.output_tokens)
        LLM_COST.labels(provider).inc(item.cost_usd or 0)
        tokens += item.input_tokens + item.output_tokens
        cost += Decimal(str(item.cost_usd or 0))
        usage.add(
            LLMUsage(
                run_id=caller.run_id,
                thread_id=caller.thread_id,
                user_id=caller.user_id,
                provider=provider,
                model=item.model or "unknown",
                input_tokens=item.input_tokens,
                output_tokens=item.output_tokens,
                cost_usd=item.cost_usd,
                latency_ms=round(item.latency_ms) if item.latency_ms is not None else None,
            )
        )
    return tokens, cost

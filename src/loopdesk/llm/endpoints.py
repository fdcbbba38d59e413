"""What the models cost: tokens and USD per call, filtered by run or thread, with totals. Yours, or
everyone's for staff and admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import func, select

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.schemas import Schema
from loopdesk.llm.models import LLMUsage

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


class UsageQuery(Schema):
    run_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = Field(None, description="staff and admins: one user's usage")
    limit: int = Field(100, ge=1, le=1000)


class UsageItem(Schema):
    run_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    user_id: uuid.UUID | None
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    latency_ms: int | None
    created_at: datetime


class UsageTotals(Schema):
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None = Field(..., description="of the calls whose model has a price")


class UsageRead(Schema):
    items: list[UsageItem] = Field(..., description="newest first, at most `limit`")
    totals: UsageTotals = Field(..., description="over every matching call")


@router.get("", response_model=UsageRead)
async def usage(user: CurrentUser, session: SessionDep, query: Annotated[UsageQuery, Query()]) -> UsageRead:
    conditions = []
    if not user.is_staff:
        conditions.append(LLMUsage.user_id == user.id)
    elif query.user_id is not None:
        conditions.append(LLMUsage.user_id == query.user_id)
    if query.run_id is not None:
        conditions.append(LLMUsage.run_id == query.run_id)
    if query.thread_id is not None:
        conditions.append(LLMUsage.thread_id == query.thread_id)
    rows = await session.scalars(
        select(LLMUsage).where(*conditions).order_by(LLMUsage.created_at.desc(), LLMUsage.id.desc()).limit(query.limit)
    )
    calls, tokens_in, tokens_out, cost = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(LLMUsage.input_tokens), 0),
                func.coalesce(func.sum(LLMUsage.output_tokens), 0),
                func.sum(LLMUsage.cost_usd),
            ).where(*conditions)
        )
    ).one()
    return UsageRead(
        items=[UsageItem.model_validate(row) for row in rows],
        totals=UsageTotals(calls=calls, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost),
    )

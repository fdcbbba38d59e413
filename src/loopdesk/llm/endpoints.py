"""What the models cost: tokens and USD per call, filtered by run or thread, with totals. Yours, or
everyone's for staff and admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.schemas import Schema
from loopdesk.llm.repository import UsageRepository

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
    repository = UsageRepository(session)
    filters = {"user_id": query.user_id, "run_id": query.run_id, "thread_id": query.thread_id}
    rows = await repository.search(user, **filters, limit=query.limit)
    calls, tokens_in, tokens_out, cost = await repository.totals(user, **filters)
    return UsageRead(
        items=[UsageItem.model_validate(row) for row in rows],
        totals=UsageTotals(calls=calls, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost),
    )

"""`/api/v1/conversations` (the record per thread, the customer's resolve and CSAT), `/api/v1/replay/{thread}`
(the event timeline, paged by cursor) and `/api/v1/analytics` (staff). Staff and admins read every
conversation; a customer only their own, and another's answers 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopdesk.auth.deps import CurrentUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.errors import error_body
from loopdesk.core.schemas import Page
from loopdesk.support.conversations.analytics import ConversationAnalytics, RangeName
from loopdesk.support.conversations.schemas import (
    ConversationAnalyticsRead,
    ConversationQuery,
    ConversationRead,
    CsatIn,
    ReplayPage,
    ResolveIn,
)
from loopdesk.support.conversations.service import ConversationService

router = APIRouter(tags=["support"])


async def _service(session: SessionDep) -> ConversationService:
    return ConversationService(session)


ServiceDep = Annotated[ConversationService, Depends(_service)]
NOT_FOUND = {
    404: {
        "description": "No conversation on this thread (or not yours)",
        "content": {"application/json": {"example": error_body("conversation_not_found", "Conversation not found")}},
    }
}
CUSTOMER_ONLY = {403: {"description": "Only the conversation's customer may (`not_the_customer`)"}, **NOT_FOUND}


@router.get("/api/v1/conversations", response_model=Page[ConversationRead])
async def list_conversations(
    user: CurrentUser, service: ServiceDep, query: Annotated[ConversationQuery, Query()]
) -> Page[ConversationRead]:
    """Conversations the caller may see, most recently active first; `user_id` is for staff."""
    rows, total = await service.search(user, query)
    items = [ConversationRead.model_validate(row) for row in rows]
    return Page[ConversationRead](items=items, total=total, limit=query.limit, offset=query.offset)


@router.get("/api/v1/conversations/{thread_id}", response_model=ConversationRead, responses=NOT_FOUND)
async def get_conversation(thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> ConversationRead:
    """The record of one thread's conversation: status, resolution, agents, intents, counters, cost, CSAT."""
    return ConversationRead.model_validate(await service.get(user, thread_id))


@router.post("/api/v1/conversations/{thread_id}/resolve", response_model=ConversationRead, responses=CUSTOMER_ONLY)
async def resolve_conversation(
    thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep, body: ResolveIn | None = None
) -> ConversationRead:
    """The customer confirms the problem is solved (optionally rating it): closed as resolved_confirmed,
    unless it was escalated, which stays its outcome. A later message of theirs opens it again."""
    return ConversationRead.model_validate(await service.resolve(user, thread_id, body or ResolveIn()))


@router.post("/api/v1/conversations/{thread_id}/csat", response_model=ConversationRead, responses=CUSTOMER_ONLY)
async def rate_conversation(
    thread_id: uuid.UUID, body: CsatIn, user: CurrentUser, service: ServiceDep
) -> ConversationRead:
    """The customer's satisfaction (1..5, a comment), at any time; the latest rating counts."""
    return ConversationRead.model_validate(await service.rate(user, thread_id, body))


@router.get("/api/v1/replay/{thread_id}", response_model=ReplayPage, responses=NOT_FOUND)
async def replay(
    thread_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="`next_cursor` of the previous page")] = None,
) -> ReplayPage:
    """Everything that happened in the conversation, in order: messages, intents, hand-offs, tool calls and
    their results, approvals (who decided, when), escalations, take-overs, the resolution and CSAT."""
    return await service.replay(user, thread_id, cursor=cursor, limit=limit)


@router.get(
    "/api/v1/analytics",
    response_model=ConversationAnalyticsRead,
    responses={403: {"description": "Staff or admin role required"}, 422: {"description": "range is not 7d or 30d"}},
)
async def support_analytics(
    _: StaffUser,
    session: SessionDep,
    range_: Annotated[RangeName, Query(alias="range", description="the last 7 or 30 days")] = "7d",
) -> ConversationAnalyticsRead:
    """Resolution and escalation rates, approvals (rate, time to decide, expired), agent usage, tool success,
    tokens and cost per resolved conversation, the busiest intents and CSAT."""
    return await ConversationAnalytics(session).compute(range_, now=datetime.now(UTC))

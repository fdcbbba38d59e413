"""`GET /api/v1/analytics/feedback` (staff and admins): the feedback loop's measures over a period, either the
last `range` (7d, 30d, 90d; the default is 7d) or the whole UTC days `from`…`to`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from loopdesk.auth.deps import StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.errors import error_body
from loopdesk.feedback.analytics import RANGES, FeedbackAnalytics, InvalidPeriod, Period
from loopdesk.feedback.analytics_schemas import FeedbackAnalyticsRead
from loopdesk.feedback.workflow import now

router = APIRouter(tags=["analytics"])

RangeName = Literal["7d", "30d", "90d"]


async def requested_period(
    range_: Annotated[
        RangeName | None, Query(alias="range", description="the last 7, 30 or 90 days (default 7d)")
    ] = None,
    from_: Annotated[date | None, Query(alias="from", description="first UTC day (ISO date), with `to`")] = None,
    to: Annotated[date | None, Query(description="last UTC day, included (ISO date), with `from`")] = None,
) -> Period:
    if from_ is None and to is None:
        return Period.last(RANGES[range_ or "7d"], now=now())
    if range_ is not None:
        raise InvalidPeriod("Give either `range` or `from` and `to`, not both")
    if from_ is None or to is None:
        raise InvalidPeriod("`from` and `to` go together", detail={"from": from_, "to": to})
    return Period.dates(from_, to)


PeriodDep = Annotated[Period, Depends(requested_period)]


@router.get(
    "/api/v1/analytics/feedback",
    response_model=FeedbackAnalyticsRead,
    responses={
        403: {"description": "Staff or admin role required"},
        422: {
            "description": "An unknown range, a half or reversed `from`/`to`, or a period over 366 days "
            "(also `validation_error` for a malformed value)",
            "content": {"application/json": {"example": error_body("invalid_period", "`to` is before `from`")}},
        },
    },
)
async def feedback_analytics(_: StaffUser, period: PeriodDep, session: SessionDep) -> FeedbackAnalyticsRead:
    """Tasks created in the period: time to first response and to resolve (p50, p90, mean hours), fix rate,
    SLA attainment, reopen and duplicate rates, automation, CSAT, the daily trend and counts by category,
    region, module, issue type and priority; and the backlog by stage as it is now."""
    return await FeedbackAnalytics(session).compute(period, now=now())

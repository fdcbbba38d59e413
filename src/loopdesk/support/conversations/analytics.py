"""Support analytics over the last 7 or 30 days, from the event stream and the conversation rows only.

Read-only reporting queries: each aggregates in PostgreSQL and returns a handful of numbers. Conversation
figures (resolution, escalation, cost, CSAT) count the conversations started in the period; event figures
(approvals, agents, tools, intents) count the events of the period. Definitions are in the schema."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.support.conversations.models import Conversation, EventKind, Resolution, Status, SupportEvent
from loopdesk.support.conversations.schemas import (
    AgentUsage,
    ApprovalStats,
    ConversationAnalyticsRead,
    CostStats,
    CsatStats,
    DecisionTime,
    EscalationStats,
    IntentCount,
    ResolutionStats,
    ToolStats,
    ToolUsage,
)

RangeName = Literal["7d", "30d"]
RANGES: dict[str, int] = {"7d": 7, "30d": 30}
TOP_INTENTS = 10
_PERSON_DECISIONS = ("approved", "edited", "rejected")
_NOT_RUN = ("denied", "rejected", "expired")
# Approvals closed because the conversation moved on (a new message, a cleared or deleted session): nobody decided.
WITHDRAWN_VIA = ("superseded", "session_cleared", "session_deleted")


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class ConversationAnalytics:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def compute(self, range_: RangeName, *, now: datetime) -> ConversationAnalyticsRead:
        since = now - timedelta(days=RANGES[range_])
        conversations = await self._conversations(since, now)
        resolved = conversations["resolved_confirmed"] + conversations["resolved_assumed"]
        tokens, cost = int(conversations["tokens"]), float(conversations["cost"])
        return ConversationAnalyticsRead(
            range=range_,
            since=since,
            until=now,
            conversations=conversations["total"],
            resolution=ResolutionStats(
                closed=conversations["closed"],
                resolved_confirmed=conversations["resolved_confirmed"],
                resolved_assumed=conversations["resolved_assumed"],
                escalated=conversations["escalated"],
                abandoned=conversations["abandoned"],
                rate=_ratio(resolved, conversations["closed"]),
                confirmed_rate=_ratio(conversations["resolved_confirmed"], conversations["closed"]),
            ),
            escalation=EscalationStats(
                escalated=conversations["ever_escalated"],
                rate=_ratio(conversations["ever_escalated"], conversations["total"]),
            ),
            approvals=await self._approvals(since, now),
            agents=await self._agents(since, now),
            tools=await self._tools(since, now),
            cost=CostStats(
                tokens=tokens,
                cost=cost,
                resolved=resolved,
                tokens_per_resolved=_ratio(tokens, resolved),
                cost_per_resolved=_ratio(cost, resolved),
            ),
            intents=await self._intents(since, now),
            csat=CsatStats(
                average=float(conversations["csat_average"]) if conversations["csat_average"] is not None else None,
                count=conversations["csat_count"],
            ),
        )

    async def _conversations(self, since: datetime, until: datetime) -> dict[str, int | Decimal | None]:
        closed = Conversation.status == Status.CLOSED.value

        def closed_as(resolution: Resolution):  # type: ignore[no-untyped-def]
            return func.count().filter(closed, Conversation.resolution == resolution.value)

        statement = select(
            func.count().label("total"),
            func.count().filter(closed).label("closed"),
            closed_as(Resolution.RESOLVED_CONFIRMED).label("resolved_confirmed"),
            closed_as(Resolution.RESOLVED_ASSUMED).label("resolved_assumed"),
            closed_as(Resolution.ESCALATED).label("escalated"),
            closed_as(Resolution.ABANDONED).label("abandoned"),
            func.count().filter(Conversation.escalated_at.is_not(None)).label("ever_escalated"),
            func.coalesce(func.sum(Conversation.tokens), 0).label("tokens"),
            func.coalesce(func.sum(Conversation.cost), 0).label("cost"),
            func.avg(Conversation.csat).label("csat_average"),
            func.count(Conversation.csat).label("csat_count"),
        ).where(Conversation.started_at >= since, Conversation.started_at <= until)
        return dict((await self.session.execute(statement)).one()._mapping)

    def _events(self, kind: EventKind, since: datetime, until: datetime):  # type: ignore[no-untyped-def]
        return (SupportEvent.kind == kind.value, SupportEvent.at >= since, SupportEvent.at <= until)

    async def _approvals(self, since: datetime, until: datetime) -> ApprovalStats:
        requested = await self.session.scalar(
            select(func.count()).where(*self._events(EventKind.APPROVAL_REQUESTED, since, until))
        )
        decision = SupportEvent.data["decision"].astext
        withdrawn = func.coalesce(SupportEvent.data["via"].astext, "").in_(WITHDRAWN_VIA)
        decided = self._events(EventKind.APPROVAL_DECIDED, since, until)
        counts: dict[str, int] = {}
        for name, was_withdrawn, count in (
            await self.session.execute(
                select(decision, withdrawn, func.count()).where(*decided).group_by(decision, withdrawn)
            )
        ).all():
            key = "withdrawn" if was_withdrawn else name
            counts[key] = counts.get(key, 0) + count
        seconds = cast(SupportEvent.data["seconds_to_decide"].astext, Float)
        median, p90 = (
            await self.session.execute(
                select(
                    func.percentile_cont(0.5).within_group(seconds),
                    func.percentile_cont(0.9).within_group(seconds),
                ).where(*decided, decision.in_(_PERSON_DECISIONS), ~withdrawn)
            )
        ).one()
        approved, edited, rejected = (counts.get(name, 0) for name in _PERSON_DECISIONS)
        return ApprovalStats(
            requested=int(requested or 0),
            approved=approved,
            edited=edited,
            rejected=rejected,
            expired=counts.get("expired", 0),
            withdrawn=counts.get("withdrawn", 0),
            rate=_ratio(approved + edited, approved + edited + rejected),
            seconds_to_decide=DecisionTime(median=median, p90=p90),
        )

    async def _agents(self, since: datetime, until: datetime) -> list[AgentUsage]:
        handoffs = func.count().label("handoffs")
        rows = await self.session.execute(
            select(SupportEvent.agent, handoffs)
            .where(*self._events(EventKind.HANDOFF, since, until), SupportEvent.agent.is_not(None))
            .group_by(SupportEvent.agent)
            .order_by(handoffs.desc(), SupportEvent.agent)
        )
        return [AgentUsage(agent=agent, handoffs=count) for agent, count in rows.all()]

    async def _tools(self, since: datetime, until: datetime) -> ToolStats:
        status = SupportEvent.data["status"].astext
        rows = await self.session.execute(
            select(SupportEvent.tool, status, func.count())
            .where(*self._events(EventKind.TOOL_CALL, since, until), SupportEvent.tool.is_not(None))
            .group_by(SupportEvent.tool, status)
        )
        per_tool: dict[str, dict[str, int]] = {}
        for tool, state, count in rows.all():
            tally = per_tool.setdefault(tool, {"succeeded": 0, "failed": 0, "not_run": 0})
            bucket = "succeeded" if state == "succeeded" else "not_run" if state in _NOT_RUN else "failed"
            tally[bucket] += count
        usage = [
            ToolUsage(
                tool=tool,
                calls=sum(tally.values()),
                success_rate=_ratio(tally["succeeded"], tally["succeeded"] + tally["failed"]),
                **tally,
            )
            for tool, tally in sorted(per_tool.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        ]
        succeeded, failed = sum(t.succeeded for t in usage), sum(t.failed for t in usage)
        return ToolStats(
            calls=sum(t.calls for t in usage),
            succeeded=succeeded,
            failed=failed,
            not_run=sum(t.not_run for t in usage),
            success_rate=_ratio(succeeded, succeeded + failed),
            per_tool=usage,
        )

    async def _intents(self, since: datetime, until: datetime) -> list[IntentCount]:
        count = func.count().label("count")
        rows = await self.session.execute(
            select(SupportEvent.intent, count)
            .where(*self._events(EventKind.INTENT, since, until), SupportEvent.intent.is_not(None))
            .group_by(SupportEvent.intent)
            .order_by(count.desc(), SupportEvent.intent)
            .limit(TOP_INTENTS)
        )
        return [IntentCount(intent=intent, count=n) for intent, n in rows.all()]

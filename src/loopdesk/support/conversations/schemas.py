"""Request and response shapes of the conversation record, replay and analytics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from loopdesk.core.schemas import MAX_OFFSET, Schema

StatusName = Literal["active", "waiting_approval", "escalated", "human", "closed"]
ResolutionName = Literal["resolved_confirmed", "resolved_assumed", "escalated", "abandoned"]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ConversationQuery(Schema):
    status: StatusName | None = None
    resolution: ResolutionName | None = None
    agent: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="an agent it used")
    user_id: uuid.UUID | None = Field(None, description="the customer (staff and admins only)")
    since: datetime | None = Field(None, description="started at or after")
    until: datetime | None = Field(None, description="started before")
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ConversationRead(Schema):
    thread_id: uuid.UUID
    user_id: uuid.UUID | None = Field(..., description="the customer")
    assistant_id: uuid.UUID | None
    status: StatusName
    resolution: ResolutionName | None = Field(
        ...,
        description="resolved_confirmed: the customer said it is solved; resolved_assumed: quiet after an answer "
        "with nothing left open; escalated: handed to a person; abandoned: quiet while something was open",
    )
    agents_used: list[str]
    intents: list[str]
    messages: int
    tool_calls: int
    tool_errors: int
    tokens: int
    cost: float = Field(..., description="USD")
    csat: int | None
    csat_comment: str | None
    taken_by: uuid.UUID | None
    escalation_id: uuid.UUID | None = Field(
        ..., description="the live escalation (open or taken: take it over, reply, hand it back); null: none"
    )
    started_at: datetime
    last_activity_at: datetime
    last_customer_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None


class ResolveIn(Schema):
    csat: int | None = Field(None, ge=1, le=5, description="how satisfied the customer is, 1..5")
    comment: Comment | None = None


class CsatIn(Schema):
    score: int = Field(..., ge=1, le=5)
    comment: Comment | None = None


class Actor(Schema):
    id: uuid.UUID
    display_name: str | None


class ReplayEvent(Schema):
    id: int
    at: datetime
    kind: str
    agent: str | None
    tool: str | None
    intent: str | None
    actor: Actor | None = Field(..., description="who acted; null: the agent or the system")
    data: dict[str, Any]
    tokens: int
    cost: float


class ReplayPage(Schema):
    thread_id: uuid.UUID
    items: list[ReplayEvent]
    next_cursor: str | None = Field(..., description="pass as `cursor` for the next page; null: the end")


# -- analytics -----------------------------------------------------------------------------------


class ResolutionStats(Schema):
    closed: int = Field(..., description="conversations of the period that are closed (their outcome is final)")
    resolved_confirmed: int
    resolved_assumed: int
    escalated: int
    abandoned: int
    rate: float | None = Field(..., description="(resolved_confirmed + resolved_assumed) / closed; null: none closed")
    confirmed_rate: float | None = Field(..., description="resolved_confirmed / closed: what customers confirmed")


class EscalationStats(Schema):
    escalated: int = Field(..., description="conversations of the period ever escalated")
    rate: float | None = Field(..., description="escalated / conversations")


class DecisionTime(Schema):
    median: float | None = Field(..., description="seconds from the request to a person's decision")
    p90: float | None


class ApprovalStats(Schema):
    requested: int
    approved: int
    edited: int
    rejected: int
    expired: int = Field(..., description="nobody decided in time (not counted as decided)")
    withdrawn: int = Field(
        ..., description="closed because the conversation moved on (a new message, a cleared session); not decided"
    )
    rate: float | None = Field(..., description="(approved + edited) / (approved + edited + rejected)")
    seconds_to_decide: DecisionTime


class AgentUsage(Schema):
    agent: str
    handoffs: int


class ToolUsage(Schema):
    tool: str
    calls: int
    succeeded: int
    failed: int = Field(..., description="ran and failed")
    not_run: int = Field(..., description="denied by policy, rejected by a reviewer, or expired")
    success_rate: float | None = Field(..., description="succeeded / (succeeded + failed)")


class ToolStats(Schema):
    calls: int
    succeeded: int
    failed: int
    not_run: int
    success_rate: float | None
    per_tool: list[ToolUsage]


class CostStats(Schema):
    tokens: int = Field(..., description="all conversations of the period")
    cost: float = Field(..., description="USD, all conversations of the period")
    resolved: int = Field(..., description="resolved_confirmed + resolved_assumed")
    tokens_per_resolved: float | None = Field(..., description="tokens / resolved: failures' spend included")
    cost_per_resolved: float | None = Field(..., description="cost / resolved: failures' spend included")


class IntentCount(Schema):
    intent: str
    count: int


class CsatStats(Schema):
    average: float | None
    count: int


class ConversationAnalyticsRead(Schema):
    range: Literal["7d", "30d"]
    since: datetime
    until: datetime
    conversations: int = Field(
        ..., description="conversations started in the period (every figure but the event counts below is about these)"
    )
    resolution: ResolutionStats
    escalation: EscalationStats
    approvals: ApprovalStats = Field(..., description="approval events of the period")
    agents: list[AgentUsage] = Field(..., description="hand-offs of the period per agent, most first")
    tools: ToolStats = Field(..., description="tool calls of the period")
    cost: CostStats
    intents: list[IntentCount] = Field(..., description="the 10 intents classified most often in the period")
    csat: CsatStats

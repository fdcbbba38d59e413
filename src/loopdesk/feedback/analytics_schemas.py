"""Shapes of the feedback analytics (`GET /api/v1/analytics/feedback`) and of the weekly report built on them.
Durations are in hours, rates are fractions (0–1) with the counts they come from; a rate with nothing to
count is null, never 0."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from loopdesk.core.schemas import Schema


class PeriodRead(Schema):
    start: datetime = Field(..., description="inclusive")
    end: datetime = Field(..., description="exclusive")
    days: float


class DurationStats(Schema):
    count: int = Field(..., description="tasks measured (those that reached the end point)")
    p50_hours: float | None
    p90_hours: float | None
    mean_hours: float | None


class Share(Schema):
    rate: float | None = Field(..., description="count / total; null when total is 0")
    count: int
    total: int


class FixRate(Share):
    """Closed tasks (verified, or closed by staff) of all finished (closed or rejected) ones."""

    closed_by_reporter: int = Field(..., description="the last close was the reporter's passed verification")
    closed_by_staff: int = Field(..., description="closed by staff (a verification or a close without one)")
    rejected: int


class SlaAttainment(Share):
    """Resolved tasks resolved by their `sla_deadline`, of the resolved tasks that have one."""

    breached_open_now: int = Field(..., description="open tasks (of any period) past their deadline now")


class Automation(Schema):
    reached_plan_review: int = Field(..., description="tasks of the period that reached plan_review")
    no_human_before_review: Share = Field(
        ..., description="reached plan_review with analysis and routing done by the workflow alone"
    )
    routed_to_person: Share = Field(..., description="the workflow, not a person, named the assignee")


class Csat(Schema):
    mean: float | None
    count: int
    distribution: dict[str, int] = Field(..., description='ratings "1"–"5" → how many')


class DayCount(Schema):
    day: date = Field(..., description="UTC day")
    created: int = Field(..., description="tasks created that day")
    resolved: int = Field(..., description="tasks resolved that day (whenever they were created)")


class Backlog(Schema):
    open: int
    breached: int = Field(..., description="open tasks past their sla_deadline")
    by_stage: dict[str, int] = Field(..., description="open stages in workflow order (stages with none left out)")


class FeedbackAnalyticsRead(Schema):
    period: PeriodRead
    generated_at: datetime
    tasks_created: int = Field(..., description="tasks created in the period (what every measure below counts)")
    reports: int = Field(..., description="tasks created plus the duplicate reports that joined them")
    first_response: DurationStats = Field(..., description="created_at → first staff response")
    resolution: DurationStats = Field(..., description="created_at → resolved_at")
    fix_rate: FixRate
    sla_attainment: SlaAttainment
    reopen_rate: Share = Field(..., description="reopened at least once, of those ever closed or rejected")
    duplicate_rate: Share = Field(..., description="joined duplicate reports, of all reports")
    automation: Automation
    csat: Csat
    trend: list[DayCount] = Field(..., description="every UTC day of the period, oldest first")
    by_category: dict[str, int] = Field(..., description="most first; `unknown` when not set")
    by_region: dict[str, int]
    by_module: dict[str, int] = Field(..., description="affected_modules; a task counts once per module")
    by_issue_type: dict[str, int]
    by_priority: dict[str, int]
    backlog: Backlog = Field(..., description="open tasks now, whenever they were created")


class BreachedTask(Schema):
    task_number: str
    title: str
    workflow_stage: str
    priority_level: str | None
    sla_deadline: datetime
    overdue_hours: float

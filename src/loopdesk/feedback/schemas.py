"""Request and response shapes of intake and the task read API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from loopdesk.core.schemas import MAX_OFFSET, Schema, SearchText

IssueType = Literal["bug", "suggestion", "question"]
RegionName = Literal["domestic", "international"]
Level = Literal["P0", "P1", "P2", "P3", "P4"]
SourceChannel = Literal["web", "app", "api", "support", "auto"]
Stage = Literal[
    "received", "classified", "analyzed", "routed", "plan_review", "assigned",
    "in_progress", "feedback_pending", "resolved", "verification", "closed", "rejected",
]  # fmt: skip
CUSTOMER_CHANNELS: tuple[SourceChannel, ...] = ("web", "app", "api")

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Module = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Hint = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class FeedbackCreate(Schema):
    title: Title
    description: Description
    source_channel: SourceChannel | None = Field(
        None, description="web, app or api (the default); staff may also say support or auto"
    )
    affected_modules: list[Module] = Field(default_factory=list, max_length=20)
    phone: Hint | None = Field(None, description="region hint: the reporter's phone number (kept only masked)")
    registered_region: Hint | None = Field(
        None, description="region hint: the country the reporter registered in (code or name, e.g. CN, 中国)"
    )


# What a reporter who joined someone else's task (a near-duplicate) may not see: the other reporter's words and
# identity, and the team's working notes. They follow its progress (stage, priority, dates) only.
_PRIVATE_TO_JOINERS = {
    "title": None, "description": None, "region_reason": None, "priority_reason": None, "reporter_id": None,
    "affected_modules": [], "log_analysis": None, "root_cause_hypothesis": None, "resolution_plan": None,
    "person_feedback": None, "assignee_id": None, "team_id": None, "csat_comment": None,
}  # fmt: skip


class TaskRead(Schema):
    id: uuid.UUID
    task_number: str = Field(..., description="FB-<year>-<6 digits>")
    title: str | None = Field(..., description="null for a reporter who joined another's task (a duplicate)")
    description: str | None
    issue_type: IssueType | None
    severity: str | None
    category: str | None
    language: str | None
    region: RegionName | None
    region_reason: dict[str, Any] | None = Field(..., description="which rule decided the region, and why")
    priority_score: int | None
    priority_level: Level | None
    priority_reason: dict[str, Any] | None = Field(..., description="the score's contributions")
    source_channel: SourceChannel
    reporter_id: uuid.UUID | None
    affected_modules: list[str]
    log_analysis: dict[str, Any] | None
    root_cause_hypothesis: str | None
    resolution_plan: dict[str, Any] | None
    person_feedback: dict[str, Any] | None
    team_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    workflow_stage: Stage
    sla_deadline: datetime | None = Field(..., description="the priority level's resolution target")
    resolved_at: datetime | None
    closed_at: datetime | None
    duplicate_of: uuid.UUID | None
    reporter_count: int = Field(..., description="how many people reported it (duplicates joined)")
    csat: int | None
    csat_comment: str | None
    stage_entered_at: datetime | None = Field(..., description="when the current stage began (its SLA clock)")
    first_response_at: datetime | None = Field(..., description="the first response by staff")
    reopen_count: int
    escalation_level: int = Field(..., description="0 none; 1 assignee, 2 team lead, 3 admins warned of a breach")
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    joined: bool = Field(False, description="the caller joined this task as a duplicate: progress only, not content")

    @classmethod
    def for_caller(cls, task: Any, caller: Any) -> TaskRead:
        """The task as `caller` may see it: whole for staff and its first reporter, progress only for joiners."""
        read = cls.model_validate(task)
        if caller.is_staff or task.reporter_id == caller.id:
            return read
        return read.model_copy(update={**_PRIVATE_TO_JOINERS, "joined": True})


class IntakeRead(Schema):
    task: TaskRead = Field(..., description="the new task, or the open task this report duplicates")
    linked: bool = Field(..., description="true: a near-duplicate of an open task, joined to it (HTTP 200)")
    similarity: float | None = Field(None, description="when linked: the cosine similarity to the original")


class TaskQuery(Schema):
    stage: Stage | None = None
    issue_type: IssueType | None = None
    region: RegionName | None = None
    priority_level: Level | None = None
    assignee: uuid.UUID | None = Field(None, description="the assignee's user id")
    team_id: uuid.UUID | None = Field(None, description="the team it is routed to (staff and admins only)")
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = Field(
        None, description="the classifier's category (account, billing, performance, ui, data, integration, other)"
    )
    q: SearchText | None = Field(None, description="text in the title or description (case-insensitive)")
    archived: Literal["exclude", "include", "only"] = Field(
        "exclude", description="archived tasks (finished long ago): left out (default), included, or only those"
    )
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class TaskEventRead(Schema):
    id: int
    task_id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None = Field(..., description="null: the system")
    kind: str = Field(..., description="created, classified, stage, assignee, priority, plan, duplicate_linked, ...")
    from_value: str | None
    to_value: str | None
    reason: str | None
    data: dict[str, Any]


Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ReviewIn(Schema):
    action: Literal["approve", "modify", "reject"]
    plan: dict[str, Any] | None = Field(
        None, description="with `modify`: the plan as it should be (e.g. summary, steps)", max_length=50
    )
    assignee_id: uuid.UUID | None = Field(None, description="who works on it (default: the person routing chose)")
    reason: Notes | None = None

    @model_validator(mode="after")
    def _plan_with_modify(self) -> ReviewIn:
        if self.action == "modify" and not self.plan:
            raise ValueError("`modify` needs the modified `plan`")
        if self.action == "reject" and not self.reason:
            raise ValueError("`reject` needs a `reason`")
        return self


class AssignIn(Schema):
    assignee_id: uuid.UUID
    team_id: uuid.UUID | None = None
    reason: Notes | None = None


class ProgressIn(Schema):
    done: bool = Field(..., description="true: fixed (→ resolved, then verification); false: still working")
    notes: Notes | None = None
    percent: int | None = Field(None, ge=0, le=100)


class UpdateRequestIn(Schema):
    reason: Notes | None = None


class VerifyIn(Schema):
    result: Literal["pass", "fail"]
    notes: Notes | None = None


class CloseIn(Schema):
    reason: Reason


class ReopenIn(Schema):
    reason: Reason


class PriorityIn(Schema):
    level: Level
    reason: Reason


class CsatIn(Schema):
    score: int = Field(..., ge=1, le=5)
    comment: Notes | None = None

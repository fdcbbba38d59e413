"""Tables of the feedback loop: the task, who reported it (a duplicate's reporters join the original), its
append-only timeline and attachments; the teams tasks are routed to (members with skills and an on-call rota)
and the routing rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base

ISSUE_TYPES = ("bug", "suggestion", "question")
REGIONS = ("domestic", "international")
LEVELS = ("P0", "P1", "P2", "P3", "P4")
SOURCE_CHANNELS = ("web", "app", "api", "support", "auto")
# The seed's SystemAgentState.workflow_stage, in workflow order.
STAGES = (
    "received", "classified", "analyzed", "routed", "plan_review", "assigned",
    "in_progress", "feedback_pending", "resolved", "verification", "closed", "rejected",
)  # fmt: skip
FINAL_STAGES = ("closed", "rejected")

TASK_NUMBER_SEQ = Sequence("task_number_seq", metadata=Base.metadata)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_one_of("issue_type", ISSUE_TYPES), name="issue_type"),
        CheckConstraint(_one_of("region", REGIONS), name="region"),
        CheckConstraint(_one_of("priority_level", LEVELS), name="priority_level"),
        CheckConstraint(_one_of("source_channel", SOURCE_CHANNELS), name="source_channel"),
        CheckConstraint(_one_of("workflow_stage", STAGES), name="workflow_stage"),
        CheckConstraint("csat BETWEEN 1 AND 5", name="csat"),
        CheckConstraint("reporter_count >= 1", name="reporter_count"),
        CheckConstraint("duplicate_of <> id", name="not_own_duplicate"),
        # What the SLA job scans: deadlines of tasks still open.
        Index(
            "ix_tasks_open_sla_deadline",
            "sla_deadline",
            postgresql_where=text("workflow_stage NOT IN ('closed', 'rejected')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    task_number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    # Set when the task is classified (in the intake request today; NULL only while at `received`).
    issue_type: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    severity: Mapped[str | None] = mapped_column(String(16), default=None)
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    region: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    region_reason: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    priority_score: Mapped[int | None] = mapped_column(Integer, default=None)
    priority_level: Mapped[str | None] = mapped_column(String(2), default=None, index=True)
    priority_reason: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    source_channel: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    affected_modules: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    log_analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    root_cause_hypothesis: Mapped[str | None] = mapped_column(Text, default=None)
    resolution_plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    person_feedback: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), default=None, index=True)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    workflow_stage: Mapped[str] = mapped_column(String(20), default="received", index=True)
    sla_deadline: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id"), default=None, index=True)
    reporter_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    csat: Mapped[int | None] = mapped_column(Integer, default=None)
    csat_comment: Mapped[str | None] = mapped_column(Text, default=None)
    # When the current stage began (stage SLA clock), the first human response (time to first response).
    stage_entered_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The SLA job's progress on the current stage: warned at 80 %, then escalation level 1 (assignee), 2 (team
    # lead), 3 (admins); reset when the stage changes.
    sla_warned_at: Mapped[datetime | None] = mapped_column(default=None)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The LangGraph thread the task's workflow runs on (owned by the system account).
    workflow_thread_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TaskReporter(Base):
    """Everyone who reported the task: its reporter, and each reporter of a duplicate that joined it.
    They may read the task; `reporter_count` counts these rows."""

    __tablename__ = "task_reporters"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TaskEvent(Base):
    """One entry of a task's timeline. A database trigger refuses UPDATE and DELETE: the record stands."""

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_id_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)  # NULL: the system
    kind: Mapped[str] = mapped_column(String(32))
    from_value: Mapped[str | None] = mapped_column(Text, default=None)
    to_value: Mapped[str | None] = mapped_column(Text, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))


class TaskAttachment(Base):
    """A screenshot or log file of a task: bytes in PostgreSQL (`data`) or, with an S3-compatible store
    configured, the object's key there (`storage_key`)."""

    __tablename__ = "task_attachments"
    __table_args__ = (CheckConstraint("(data IS NULL) <> (storage_key IS NULL)", name="one_storage"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), index=True)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    storage_key: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (CheckConstraint(_one_of("region", REGIONS), name="region"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    region: Mapped[str | None] = mapped_column(String(16), default=None)  # None: serves both regions
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TeamMember(Base):
    """A staff member of a team: skills, time zone and on-call windows (empty: always on duty)."""

    __tablename__ = "team_members"

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    skills: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # [{"days": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"}] in the member's time zone.
    on_call: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RoutingRule(Base):
    """Tasks matching every set condition go to `team_id`; rules are tried by `position`, first match wins.
    `skill`: the assignee must have it."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    issue_type: Mapped[str | None] = mapped_column(String(16), default=None)
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    module: Mapped[str | None] = mapped_column(String(100), default=None)
    region: Mapped[str | None] = mapped_column(String(16), default=None)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    skill: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

"""Tables of the feedback loop: the task, who reported it (a duplicate's reporters join the original) and
its append-only timeline. Later slices (teams, routing, attachments) add their own tables beside these."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
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
    team: Mapped[str | None] = mapped_column(Text, default=None)  # a teams table comes with routing
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    workflow_stage: Mapped[str] = mapped_column(String(20), default="received", index=True)
    sla_deadline: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id"), default=None, index=True)
    reporter_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    csat: Mapped[int | None] = mapped_column(Integer, default=None)
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

"""feedback tasks, reporters and timeline

Revision ID: 79566eb9b84b
Revises: 48e579b2a980
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "79566eb9b84b"
down_revision: str | None = "48e579b2a980"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = (
    "received", "classified", "analyzed", "routed", "plan_review", "assigned",
    "in_progress", "feedback_pending", "resolved", "verification", "closed", "rejected",
)  # fmt: skip


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE task_number_seq")
    op.create_table(
        "tasks",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("task_number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("issue_type", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("region", sa.String(length=16), nullable=True),
        sa.Column("region_reason", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("priority_score", sa.Integer(), nullable=True),
        sa.Column("priority_level", sa.String(length=2), nullable=True),
        sa.Column("priority_reason", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("source_channel", sa.String(length=16), nullable=False),
        sa.Column("reporter_id", sa.UUID(), nullable=False),
        sa.Column(
            "affected_modules",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("log_analysis", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("root_cause_hypothesis", sa.Text(), nullable=True),
        sa.Column("resolution_plan", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("person_feedback", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("team", sa.Text(), nullable=True),
        sa.Column("assignee_id", sa.UUID(), nullable=True),
        sa.Column("workflow_stage", sa.String(length=20), nullable=False),
        sa.Column("sla_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duplicate_of", sa.UUID(), nullable=True),
        sa.Column("reporter_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(_one_of("issue_type", ("bug", "suggestion", "question")), name=op.f("ck_tasks_issue_type")),
        sa.CheckConstraint(_one_of("region", ("domestic", "international")), name=op.f("ck_tasks_region")),
        sa.CheckConstraint(
            _one_of("priority_level", ("P0", "P1", "P2", "P3", "P4")), name=op.f("ck_tasks_priority_level")
        ),
        sa.CheckConstraint(
            _one_of("source_channel", ("web", "app", "api", "support", "auto")), name=op.f("ck_tasks_source_channel")
        ),
        sa.CheckConstraint(_one_of("workflow_stage", STAGES), name=op.f("ck_tasks_workflow_stage")),
        sa.CheckConstraint("csat BETWEEN 1 AND 5", name=op.f("ck_tasks_csat")),
        sa.CheckConstraint("reporter_count >= 1", name=op.f("ck_tasks_reporter_count")),
        sa.CheckConstraint("duplicate_of <> id", name=op.f("ck_tasks_not_own_duplicate")),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_tasks_assignee_id_users")),
        sa.ForeignKeyConstraint(["duplicate_of"], ["tasks.id"], name=op.f("fk_tasks_duplicate_of_tasks")),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], name=op.f("fk_tasks_reporter_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("task_number", name=op.f("uq_tasks_task_number")),
    )
    for column in (
        "issue_type",
        "region",
        "priority_level",
        "reporter_id",
        "assignee_id",
        "workflow_stage",
        "duplicate_of",
    ):
        op.create_index(op.f(f"ix_tasks_{column}"), "tasks", [column])
    op.create_index(
        "ix_tasks_open_sla_deadline",
        "tasks",
        ["sla_deadline"],
        postgresql_where=sa.text("workflow_stage NOT IN ('closed', 'rejected')"),
    )
    op.create_table(
        "task_reporters",
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_reporters_task_id_tasks")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_task_reporters_user_id_users")),
        sa.PrimaryKeyConstraint("task_id", "user_id", name=op.f("pk_task_reporters")),
    )
    op.create_index(op.f("ix_task_reporters_user_id"), "task_reporters", ["user_id"])
    op.create_table(
        "task_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_value", sa.Text(), nullable=True),
        sa.Column("to_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_task_events_actor_id_users")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_events_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_events")),
    )
    op.create_index("ix_task_events_task_id_id", "task_events", ["task_id", "id"])
    # The timeline is a record: rows are added, never changed or removed.
    op.execute(
        """
        CREATE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'task_events is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE ON task_events "
        "FOR EACH ROW EXECUTE FUNCTION task_events_append_only()"
    )


def downgrade() -> None:
    op.drop_table("task_events")
    op.execute("DROP FUNCTION task_events_append_only()")
    op.drop_table("task_reporters")
    op.drop_table("tasks")
    op.execute("DROP SEQUENCE task_number_seq")

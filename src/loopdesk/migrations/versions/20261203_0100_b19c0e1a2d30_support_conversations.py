"""support: conversation records, the analytics event stream, escalations, agent sets

Revision ID: b19c0e1a2d30
Revises: a3c1f9d27e10
Create Date: 2026-12-03 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b19c0e1a2d30"
down_revision: str | None = "a3c1f9d27e10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("active", "waiting_approval", "escalated", "human", "closed")
RESOLUTIONS = ("resolved_confirmed", "resolved_assumed", "escalated", "abandoned")
ESCALATION_KINDS = ("requested", "refused", "policy", "error", "defect", "out_of_scope")
ESCALATION_STATUSES = ("open", "taken", "closed")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(precision=14, scale=6), server_default="0", nullable=False)


def _text_array(name: str) -> sa.Column:
    return sa.Column(name, postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "support_conversations",
        sa.Column("thread_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("assistant_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        _text_array("agents_used"),
        _text_array("intents"),
        _counter("messages"),
        _counter("tool_calls"),
        _counter("tool_errors"),
        _counter("tokens"),
        _money("cost"),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("csat_comment", sa.Text(), nullable=True),
        sa.Column("taken_by", sa.UUID(), nullable=True),
        _now("started_at"),
        _now("last_activity_at"),
        sa.Column("last_customer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_one_of("status", STATUSES), name=op.f("ck_support_conversations_status")),
        sa.CheckConstraint(_one_of("resolution", RESOLUTIONS), name=op.f("ck_support_conversations_resolution")),
        sa.CheckConstraint("csat BETWEEN 1 AND 5", name=op.f("ck_support_conversations_csat")),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.thread_id"],
            name=op.f("fk_support_conversations_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_support_conversations_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["taken_by"], ["users.id"], name=op.f("fk_support_conversations_taken_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_support_conversations")),
    )
    # The list's filters and the sweep's scan (status + last activity).
    op.create_index(
        "ix_support_conversations_status_last_activity_at", "support_conversations", ["status", "last_activity_at"]
    )
    op.create_index("ix_support_conversations_started_at", "support_conversations", ["started_at"])
    op.create_index("ix_support_conversations_user_id_started_at", "support_conversations", ["user_id", "started_at"])
    op.create_index("ix_support_conversations_resolution", "support_conversations", ["resolution"])
    op.create_index(
        "ix_support_conversations_agents_used", "support_conversations", ["agents_used"], postgresql_using="gin"
    )

    op.create_table(
        "support_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("thread_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("tool", sa.Text(), nullable=True),
        sa.Column("intent", sa.Text(), nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        _counter("tokens"),
        _money("cost"),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        _now("at"),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.thread_id"], name=op.f("fk_support_events_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_events")),
    )
    op.create_index("ix_support_events_thread_id_id", "support_events", ["thread_id", "id"])
    op.create_index("ix_support_events_at", "support_events", ["at"])

    op.create_table(
        "support_escalations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("thread_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("assigned_to", sa.UUID(), nullable=True),
        sa.Column("task_id", sa.UUID(), nullable=True),
        _now("created_at"),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_one_of("kind", ESCALATION_KINDS), name=op.f("ck_support_escalations_kind")),
        sa.CheckConstraint(_one_of("status", ESCALATION_STATUSES), name=op.f("ck_support_escalations_status")),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.thread_id"],
            name=op.f("fk_support_escalations_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["users.id"], name=op.f("fk_support_escalations_assigned_to_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_escalations")),
    )
    op.create_index("ix_support_escalations_status_created_at", "support_escalations", ["status", "created_at"])
    op.create_index(
        "uq_support_escalations_live_thread",
        "support_escalations",
        ["thread_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('open', 'taken')"),
    )

    op.create_table(
        "support_agent_sets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_agent_sets")),
    )


def downgrade() -> None:
    op.drop_table("support_agent_sets")
    op.drop_table("support_escalations")
    op.drop_table("support_events")
    op.drop_table("support_conversations")

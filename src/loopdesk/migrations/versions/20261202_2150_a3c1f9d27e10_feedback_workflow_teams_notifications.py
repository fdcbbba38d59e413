"""feedback workflow: teams, routing rules, attachments, notification channels and deliveries, the system account

Revision ID: a3c1f9d27e10
Revises: 79566eb9b84b
Create Date: 2026-12-02 21:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a3c1f9d27e10"
down_revision: str | None = "79566eb9b84b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_USER_ID = "00000000-0000-0000-0000-00000000f10b"


def _jsonb_list(name: str) -> sa.Column:
    return sa.Column(
        name, postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
    )


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("region", sa.String(length=16), nullable=True),
        sa.Column("lead_id", sa.UUID(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint("region IN ('domestic', 'international')", name=op.f("ck_teams_region")),
        sa.ForeignKeyConstraint(["lead_id"], ["users.id"], name=op.f("fk_teams_lead_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        _jsonb_list("skills"),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        _jsonb_list("on_call"),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        _now("created_at"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users")),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"])
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("issue_type", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("module", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=16), nullable=True),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("skill", sa.String(length=64), nullable=True),
        _now("created_at"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_routing_rules_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )

    op.drop_column("tasks", "team")
    op.add_column("tasks", sa.Column("team_id", sa.UUID(), nullable=True))
    op.create_foreign_key(op.f("fk_tasks_team_id_teams"), "tasks", "teams", ["team_id"], ["id"])
    op.create_index(op.f("ix_tasks_team_id"), "tasks", ["team_id"])
    op.add_column("tasks", sa.Column("csat_comment", sa.Text(), nullable=True))
    for column in ("stage_entered_at", "first_response_at", "sla_warned_at", "archived_at"):
        op.add_column("tasks", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column("tasks", sa.Column("reopen_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("tasks", sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False))
    op.add_column("tasks", sa.Column("workflow_thread_id", sa.UUID(), nullable=True))
    op.execute("UPDATE tasks SET stage_entered_at = updated_at")

    op.create_table(
        "task_attachments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("uploaded_by", sa.UUID(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("storage_key", sa.Text(), nullable=True),
        _now("created_at"),
        sa.CheckConstraint("(data IS NULL) <> (storage_key IS NULL)", name=op.f("ck_task_attachments_one_storage")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_attachments_task_id_tasks")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_task_attachments_uploaded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_attachments")),
    )
    op.create_index(op.f("ix_task_attachments_task_id"), "task_attachments", ["task_id"])

    op.create_table(
        "notification_channels",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=True),
        sa.Column("team_id", sa.UUID(), nullable=True),
        _jsonb_list("events"),
        sa.Column(
            "config", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint(
            "kind IN ('email', 'dingtalk', 'slack', 'webhook')", name=op.f("ck_notification_channels_kind")
        ),
        sa.CheckConstraint(
            "region IS NULL OR region IN ('domestic', 'international')", name=op.f("ck_notification_channels_region")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_notification_channels_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_channels_name")),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("language", sa.String(length=8), server_default="en", nullable=False),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _now("next_attempt_at"),
        _now("created_at"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('websocket', 'email', 'dingtalk', 'slack', 'webhook')",
            name=op.f("ck_notification_deliveries_kind"),
        ),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("ck_notification_deliveries_status")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_notification_deliveries_task_id_tasks")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notification_deliveries_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notification_deliveries_dedup_key")),
    )
    op.create_index(
        "ix_notification_deliveries_pending",
        "notification_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_notification_deliveries_task_id_id", "notification_deliveries", ["task_id", "id"])
    op.create_index(op.f("ix_notification_deliveries_user_id"), "notification_deliveries", ["user_id"])

    # The account that owns the feedback workflow's threads: no usable password (it cannot log in).
    op.execute(
        sa.text(
            "INSERT INTO users (id, email, display_name, password_hash, role, is_active) VALUES "
            "(CAST(:id AS uuid), 'system@loopdesk.invalid', 'loopdesk', '!', 'admin', true) ON CONFLICT DO NOTHING"
        ).bindparams(id=SYSTEM_USER_ID)
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("notification_channels")
    op.drop_table("task_attachments")
    for column in (
        "workflow_thread_id", "escalation_level", "reopen_count", "archived_at", "sla_warned_at",
        "first_response_at", "stage_entered_at", "csat_comment",
    ):  # fmt: skip
        op.drop_column("tasks", column)
    op.drop_index(op.f("ix_tasks_team_id"), table_name="tasks")
    op.drop_constraint(op.f("fk_tasks_team_id_teams"), "tasks", type_="foreignkey")
    op.drop_column("tasks", "team_id")
    op.add_column("tasks", sa.Column("team", sa.Text(), nullable=True))
    op.drop_table("routing_rules")
    op.drop_table("team_members")
    op.drop_table("teams")

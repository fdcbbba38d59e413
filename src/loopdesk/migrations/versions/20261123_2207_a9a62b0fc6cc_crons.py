"""crons

Revision ID: a9a62b0fc6cc
Revises: 30ca210fd989
Create Date: 2026-11-23 22:07:04.529852
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a9a62b0fc6cc"
down_revision: str | None = "30ca210fd989"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crons",
        sa.Column("cron_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("assistant_id", sa.UUID(), nullable=False),
        sa.Column("thread_id", sa.UUID(), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("on_run_completed", sa.String(length=16), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_crons_owner_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.thread_id"], name=op.f("fk_crons_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cron_id", name=op.f("pk_crons")),
    )
    op.create_index(op.f("ix_crons_assistant_id"), "crons", ["assistant_id"], unique=False)
    op.create_index(op.f("ix_crons_next_run_date"), "crons", ["next_run_date"], unique=False)
    op.create_index(op.f("ix_crons_owner_id"), "crons", ["owner_id"], unique=False)
    op.create_index(op.f("ix_crons_thread_id"), "crons", ["thread_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_crons_thread_id"), table_name="crons")
    op.drop_index(op.f("ix_crons_owner_id"), table_name="crons")
    op.drop_index(op.f("ix_crons_next_run_date"), table_name="crons")
    op.drop_index(op.f("ix_crons_assistant_id"), table_name="crons")
    op.drop_table("crons")

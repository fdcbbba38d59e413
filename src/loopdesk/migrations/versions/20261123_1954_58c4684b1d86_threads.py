"""Threads (ownership, metadata, status; checkpoints stay in LangGraph's tables).

Revision ID: 58c4684b1d86
Revises: 101b0cae2cc2
Create Date: 2026-11-23 19:54:24.261302
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "58c4684b1d86"
down_revision: str | None = "101b0cae2cc2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("thread_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("interrupts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_threads_owner_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_threads")),
    )
    op.create_index(op.f("ix_threads_expires_at"), "threads", ["expires_at"], unique=False)
    op.create_index(op.f("ix_threads_owner_id"), "threads", ["owner_id"], unique=False)
    op.create_index(op.f("ix_threads_status"), "threads", ["status"], unique=False)
    op.create_index(op.f("ix_threads_updated_at"), "threads", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_threads_updated_at"), table_name="threads")
    op.drop_index(op.f("ix_threads_status"), table_name="threads")
    op.drop_index(op.f("ix_threads_owner_id"), table_name="threads")
    op.drop_index(op.f("ix_threads_expires_at"), table_name="threads")
    op.drop_table("threads")

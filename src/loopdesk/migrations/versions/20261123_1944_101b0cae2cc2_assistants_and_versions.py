"""Assistants and their versions.

Revision ID: 101b0cae2cc2
Revises: d7e427e52a3e
Create Date: 2026-11-23 19:44:06.044420
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "101b0cae2cc2"
down_revision: str | None = "d7e427e52a3e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistants",
        sa.Column("assistant_id", sa.UUID(), nullable=False),
        sa.Column("graph_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_assistants_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("assistant_id", name=op.f("pk_assistants")),
    )
    op.create_index(op.f("ix_assistants_graph_id"), "assistants", ["graph_id"], unique=False)
    op.create_index(op.f("ix_assistants_owner_id"), "assistants", ["owner_id"], unique=False)
    op.create_table(
        "assistant_versions",
        sa.Column("assistant_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.assistant_id"],
            name=op.f("fk_assistant_versions_assistant_id_assistants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assistant_id", "version", name=op.f("pk_assistant_versions")),
    )


def downgrade() -> None:
    op.drop_table("assistant_versions")
    op.drop_index(op.f("ix_assistants_owner_id"), table_name="assistants")
    op.drop_index(op.f("ix_assistants_graph_id"), table_name="assistants")
    op.drop_table("assistants")

"""log store

Revision ID: 7a1c0d2e4f60
Revises: 32976ae6ac01
Create Date: 2026-11-30 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7a1c0d2e4f60"
down_revision: str | None = "32976ae6ac01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram index on messages (keyword search); the extension ships in PostgreSQL's contrib.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "log_records",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=True),
        sa.Column("module", sa.String(length=256), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("span_id", sa.String(length=32), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("ingested_by", sa.UUID(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_records")),
    )
    op.create_index("ix_log_records_ts", "log_records", ["ts"], unique=False)
    op.create_index("ix_log_records_service_ts", "log_records", ["service", "ts"], unique=False)
    op.create_index("ix_log_records_module_ts", "log_records", ["module", "ts"], unique=False)
    op.create_index("ix_log_records_level_ts", "log_records", ["level", "ts"], unique=False)
    op.create_index(
        "ix_log_records_template_id",
        "log_records",
        ["template_id"],
        unique=False,
        postgresql_where=sa.text("template_id IS NOT NULL"),
    )
    op.create_index(
        "ix_log_records_trace_id",
        "log_records",
        ["trace_id"],
        unique=False,
        postgresql_where=sa.text("trace_id IS NOT NULL"),
    )
    op.create_index(
        "ix_log_records_message_trgm",
        "log_records",
        ["message"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"message": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_log_records_message_trgm", table_name="log_records")
    op.drop_index("ix_log_records_trace_id", table_name="log_records")
    op.drop_index("ix_log_records_template_id", table_name="log_records")
    op.drop_index("ix_log_records_level_ts", table_name="log_records")
    op.drop_index("ix_log_records_module_ts", table_name="log_records")
    op.drop_index("ix_log_records_service_ts", table_name="log_records")
    op.drop_index("ix_log_records_ts", table_name="log_records")
    op.drop_table("log_records")
    # pg_trgm stays: other objects may have come to use it, and keeping it is harmless.

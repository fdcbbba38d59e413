"""runs.seq: the order runs of a thread were created in (commit order under the thread's row lock)

Revision ID: 5b1e0f3c2a77
Revises: a9a62b0fc6cc
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e0f3c2a77"
down_revision: str | None = "a9a62b0fc6cc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False))
    op.create_index("ix_runs_thread_seq", "runs", ["thread_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_thread_seq", table_name="runs")
    op.drop_column("runs", "seq")

"""approvals: who may approve (anyone who may see it, or staff only)

Revision ID: c2a7e5d9b104
Revises: b19c0e1a2d30
Create Date: 2026-12-03 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c2a7e5d9b104"
down_revision: str | None = "b19c0e1a2d30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("approvals", sa.Column("approver", sa.String(length=10), server_default="any", nullable=False))
    op.create_check_constraint(op.f("ck_approvals_approver"), "approvals", "approver IN ('any', 'staff')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_approvals_approver"), "approvals", type_="check")
    op.drop_column("approvals", "approver")

"""log store

Revision ID: 7a1c0d2e4f60
Revises: 32976ae6ac01
Create Date: 2026-11-30 12:00:00

"""

from collections.abc import Sequence

revision: str = "7a1c0d2e4f60"
down_revision: str | None = "32976ae6ac01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

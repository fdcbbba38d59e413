"""dedup embeddings

Revision ID: 8b2d1e3f5a71
Revises: 7a1c0d2e4f60
Create Date: 2026-11-30 12:01:00

"""

from collections.abc import Sequence

revision: str = "8b2d1e3f5a71"
down_revision: str | None = "7a1c0d2e4f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

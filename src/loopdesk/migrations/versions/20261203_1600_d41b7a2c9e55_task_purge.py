"""task purge: the retention sweep may delete an archived task's timeline with the task

The timeline stays append-only: UPDATE is always refused, and DELETE only inside a transaction that set
`loopdesk.purge_tasks` (the retention sweep, feedback/archive.py) and only for a task that is archived.

Revision ID: d41b7a2c9e55
Revises: 6f9968db9b15
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d41b7a2c9e55"
down_revision: str | None = "6f9968db9b15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = "RAISE EXCEPTION 'task_events is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('loopdesk.purge_tasks', true) = 'on'
               AND EXISTS (SELECT 1 FROM tasks WHERE id = OLD.task_id AND archived_at IS NOT NULL) THEN
                RETURN OLD;
            END IF;
            {_REFUSE}
        END
        $$
        """  # noqa: S608 - constants
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {_REFUSE}
        END
        $$
        """
    )

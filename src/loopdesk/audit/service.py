"""The audit trail: one append per decision or configuration change, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.models import AuditEvent


async def record(
    session: AsyncSession,
    action: str,
    subject_type: str,
    subject_id: object,
    *,
    actor_id: uuid.UUID | None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor_id, action=action, subject_type=subject_type, subject_id=str(subject_id), detail=detail
        )
    )
    await session.flush()

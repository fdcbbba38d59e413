"""The only code that queries `session_attachments`. Rows are read without their bytes unless the bytes are
asked for: a listing never pulls files into memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.sessions.models import SessionAttachment

_LOCK_NAMESPACE = 0x53415454  # "SATT": the first key of the two-key advisory lock taken per session

INFO_COLUMNS = (
    SessionAttachment.id,
    SessionAttachment.thread_id,
    SessionAttachment.uploaded_by,
    SessionAttachment.filename,
    SessionAttachment.content_type,
    SessionAttachment.size,
    SessionAttachment.sha256,
    SessionAttachment.created_at,
)


class SessionAttachmentRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def lock_thread(self, thread_id: uuid.UUID) -> None:
        """Serialise uploads to one session until the transaction ends, so that the per-session count holds."""
        key = int.from_bytes(thread_id.bytes[:4], "big", signed=True)
        await self.session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, key)))

    async def count(self, thread_id: uuid.UUID) -> int:
        statement = select(func.count()).select_from(SessionAttachment).where(SessionAttachment.thread_id == thread_id)
        return int(await self.session.scalar(statement) or 0)

    async def add(self, values: dict[str, Any]) -> Row[Any]:
        result = await self.session.execute(insert(SessionAttachment).values(**values).returning(*INFO_COLUMNS))
        return result.one()

    async def list(self, thread_id: uuid.UUID) -> list[Row[Any]]:
        statement = (
            select(*INFO_COLUMNS)
            .where(SessionAttachment.thread_id == thread_id)
            .order_by(SessionAttachment.created_at, SessionAttachment.id)
        )
        return list((await self.session.execute(statement)).all())

    async def list_by_ids(
        self, thread_id: uuid.UUID, ids: Sequence[uuid.UUID], *, uploaded_by: uuid.UUID
    ) -> list[Row[Any]]:
        statement = select(*INFO_COLUMNS).where(
            SessionAttachment.thread_id == thread_id,
            SessionAttachment.uploaded_by == uploaded_by,
            SessionAttachment.id.in_(list(ids)),
        )
        return list((await self.session.execute(statement)).all())

    async def get_with_data(self, thread_id: uuid.UUID, attachment_id: uuid.UUID) -> Row[Any] | None:
        statement = select(*INFO_COLUMNS, SessionAttachment.data).where(
            SessionAttachment.thread_id == thread_id, SessionAttachment.id == attachment_id
        )
        return (await self.session.execute(statement)).one_or_none()

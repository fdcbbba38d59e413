"""The only code that queries `task_attachments`. Rows are read and written without their bytes unless the
bytes are asked for: a listing never pulls files into memory."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import TaskAttachment

_LOCK_NAMESPACE = 0x41545448  # "ATTH": the first key of the two-key advisory lock taken per task

INFO_COLUMNS = (
    TaskAttachment.id,
    TaskAttachment.task_id,
    TaskAttachment.filename,
    TaskAttachment.content_type,
    TaskAttachment.size,
    TaskAttachment.sha256,
    TaskAttachment.uploaded_by,
    TaskAttachment.created_at,
)


class AttachmentRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def lock_task(self, task_id: uuid.UUID) -> None:
        """Serialise uploads to one task until the transaction ends, so that the per-task count holds."""
        key = int.from_bytes(task_id.bytes[:4], "big", signed=True)
        await self.session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, key)))

    async def count(self, task_id: uuid.UUID) -> int:
        statement = select(func.count()).select_from(TaskAttachment).where(TaskAttachment.task_id == task_id)
        return int(await self.session.scalar(statement) or 0)

    async def add(self, values: dict[str, Any]) -> Row[Any]:
        result = await self.session.execute(insert(TaskAttachment).values(**values).returning(*INFO_COLUMNS))
        return result.one()

    async def list(self, task_id: uuid.UUID, *, uploaded_by: uuid.UUID | None = None) -> list[Row[Any]]:
        statement = select(*INFO_COLUMNS).where(TaskAttachment.task_id == task_id)
        if uploaded_by is not None:
            statement = statement.where(TaskAttachment.uploaded_by == uploaded_by)
        result = await self.session.execute(statement.order_by(TaskAttachment.created_at, TaskAttachment.id))
        return list(result.all())

    async def get_with_data(
        self, task_id: uuid.UUID, attachment_id: uuid.UUID, *, uploaded_by: uuid.UUID | None = None
    ) -> Row[Any] | None:
        statement = select(*INFO_COLUMNS, TaskAttachment.data).where(
            TaskAttachment.task_id == task_id, TaskAttachment.id == attachment_id
        )
        if uploaded_by is not None:
            statement = statement.where(TaskAttachment.uploaded_by == uploaded_by)
        return (await self.session.execute(statement)).one_or_none()

"""Attachments of feedback tasks (screenshots, log files), bytes in PostgreSQL. The only code that writes
`task_attachments`; each file stored is an `attachment_added` entry on the task's timeline.

Who sees them: staff, all of a task's files; the task's reporter, the files they gave (staff files such as
log extracts may hold other people's data); a reporter who joined the task as a duplicate, none (they follow
its progress only). Services flush; the request owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import NotFound
from loopdesk.core.settings import AttachmentSettings
from loopdesk.feedback.attachment_repository import AttachmentRepository
from loopdesk.feedback.models import Task
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.service import TaskNotFound
from loopdesk.feedback.uploads import TooManyAttachments, Upload
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.feedback.attachments")


class AttachmentNotFound(NotFound):
    code, message = "attachment_not_found", "Attachment not found"


class AttachmentService:
    def __init__(self, session: AsyncSession, *, settings: AttachmentSettings):
        self.repository = AttachmentRepository(session)
        self.tasks = TaskRepository(session)
        self.settings = settings

    @staticmethod
    def check_access(user: User, task: Task) -> None:
        """404, as for a task one may not see, for a joined duplicate's reporter (and anyone else not staff
        nor the reporter)."""
        if not (user.is_staff or task.reporter_id == user.id):
            raise TaskNotFound(detail={"task": task.task_number})

    async def upload(self, user: User, task: Task, uploads: Sequence[Upload]) -> list[Row[Any]]:
        """Files added to a task by its reporter or staff."""
        self.check_access(user, task)
        return await self.attach(user, task, uploads)

    async def attach(self, user: User, task: Task, uploads: Sequence[Upload]) -> list[Row[Any]]:
        """Store checked files on `task` for `user`, whose right to add them the caller has settled (at intake:
        the report's author, also when the report joined an open task)."""
        await self.repository.lock_task(task.id)
        existing = await self.repository.count(task.id)
        limit = self.settings.attachment_max_files
        if existing + len(uploads) > limit:
            raise TooManyAttachments(detail={"max_files": limit, "existing": existing, "adding": len(uploads)})
        stored = []
        for upload in uploads:
            row = await self.repository.add(
                {
                    "id": uuid.uuid4(),
                    "task_id": task.id,
                    "uploaded_by": user.id,
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "size": upload.size,
                    "sha256": upload.sha256,
                    "data": await upload.read(),
                    "created_at": datetime.now(UTC),
                }
            )
            await self.tasks.add_event(
                task.id,
                "attachment_added",
                actor_id=user.id,
                to_value=row.filename,
                data={
                    "attachment_id": str(row.id),
                    "content_type": row.content_type,
                    "size": row.size,
                    "sha256": row.sha256,
                },
            )
            stored.append(row)
        log.info("feedback.attachments.added", task_id=str(task.id), count=len(stored))
        return stored

    async def list(self, user: User, task: Task) -> list[Row[Any]]:
        self.check_access(user, task)
        return await self.repository.list(task.id, uploaded_by=None if user.is_staff else user.id)

    async def get(self, user: User, task: Task, attachment_id: uuid.UUID) -> Row[Any]:
        """The attachment with its bytes (`data`)."""
        self.check_access(user, task)
        row = await self.repository.get_with_data(
            task.id, attachment_id, uploaded_by=None if user.is_staff else user.id
        )
        if row is None or row.data is None:  # no data: in an object store, which this version does not read
            raise AttachmentNotFound(detail={"task": task.task_number, "attachment": str(attachment_id)})
        return row

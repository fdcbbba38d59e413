"""`/api/v1/tasks/{task}/attachments`: upload (multipart `file` parts), list, download. `{task}` is an id or
a task number; who may see which files: feedback/attachments.py."""

from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.errors import error_body
from loopdesk.feedback.attachment_deps import UPLOAD_BODY, AttachmentServiceDep, UploadsDep
from loopdesk.feedback.attachment_schemas import AttachmentRead
from loopdesk.feedback.endpoints import NOT_FOUND, ServiceDep
from loopdesk.feedback.models import Task
from loopdesk.feedback.uploads import INLINE_TYPES

router = APIRouter(tags=["feedback"])

# Served bytes are never run as a page: no sniffing, no scripts, no embedding in another site.
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Cache-Control": "private, no-cache",
}
_UPLOAD_ERRORS = {
    **NOT_FOUND,
    409: {"description": "The task would hold more attachments than allowed (`too_many_attachments`)"},
    413: {"description": "A file is larger than allowed (`attachment_too_large`); nothing is stored"},
    415: {
        "description": "A file's type is not allowed or its content is not that type (`attachment_type_not_allowed`)"
    },
}


async def _task(task: str, user: CurrentUser, tasks: ServiceDep) -> Task:
    return await tasks.get(user, task)


TaskDep = Annotated[Task, Depends(_task)]


def content_disposition(kind: str, filename: str) -> str:
    """An ASCII `filename` for old clients and the exact name as RFC 6266 `filename*`."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post(
    "/api/v1/tasks/{task}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=list[AttachmentRead],
    responses=_UPLOAD_ERRORS,
    openapi_extra=UPLOAD_BODY,
)
async def upload_attachments(
    task: TaskDep, uploads: UploadsDep, user: CurrentUser, service: AttachmentServiceDep
) -> list[AttachmentRead]:
    """Add files to a task (its reporter, or staff): one or more `file` parts; all are stored or none."""
    # `task` comes before `uploads`: a caller who may not see the task is refused before the body is read.
    stored = await service.upload(user, task, uploads)
    return [AttachmentRead.model_validate(row) for row in stored]


@router.get("/api/v1/tasks/{task}/attachments", response_model=list[AttachmentRead], responses=NOT_FOUND)
async def list_attachments(task: TaskDep, user: CurrentUser, service: AttachmentServiceDep) -> list[AttachmentRead]:
    """A task's files, oldest first: all of them for staff, the ones they gave for its reporter."""
    return [AttachmentRead.model_validate(row) for row in await service.list(user, task)]


@router.get(
    "/api/v1/tasks/{task}/attachments/{attachment}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with its stored type", "content": {"application/octet-stream": {}}},
        404: {
            "description": "Task or attachment not found (or not yours)",
            "content": {"application/json": {"example": error_body("attachment_not_found", "Attachment not found")}},
        },
    },
)
async def download_attachment(
    task: TaskDep, attachment: uuid.UUID, user: CurrentUser, service: AttachmentServiceDep
) -> Response:
    """The file as a download (images may be shown inline)."""
    row = await service.get(user, task, attachment)
    kind = "inline" if row.content_type in INLINE_TYPES else "attachment"
    headers = {
        **_SAFE_HEADERS,
        "Content-Disposition": content_disposition(kind, row.filename),
        "ETag": f'"{row.sha256}"',
    }
    return Response(content=row.data, media_type=row.content_type, headers=headers)

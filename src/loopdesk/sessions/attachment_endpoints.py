"""`/api/v1/sessions/{session_id}/attachments`: files for the chat (multipart `file` parts, checked as the feedback
tasks' are), listed and served to the session's owner and staff. Sending them: `attachments` of execute, or of
the WebSocket's `message` frame; who may do what: sessions/attachments.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.feedback.attachment_deps import UPLOAD_BODY, AttachmentSettingsDep, UploadsDep
from loopdesk.feedback.attachment_endpoints import content_disposition
from loopdesk.feedback.uploads import INLINE_TYPES
from loopdesk.sessions.attachments import SessionAttachmentService
from loopdesk.sessions.deps import NOT_FOUND, ServiceDep, error_response
from loopdesk.sessions.expiry import check_session_open
from loopdesk.sessions.schemas import SessionAttachmentRead
from loopdesk.sessions.service import SessionView

router = APIRouter(tags=["sessions"])  # mounted under /api/v1/sessions (endpoints.py)

# Served bytes are never run as a page: no sniffing, no scripts, no embedding in another site.
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Cache-Control": "private, no-cache",
}
_UPLOAD_ERRORS = {
    403: error_response("forbidden", "Only the session's owner adds files (staff may read them)"),
    **NOT_FOUND,
    409: error_response("too_many_attachments", "The session would hold more files than allowed; nothing is stored"),
    410: error_response("session_expired", "The session expired: start a new one"),
    413: error_response("attachment_too_large", "A file is larger than allowed; nothing is stored"),
    415: error_response("attachment_type_not_allowed", "A file's type is not allowed or its content is not that type"),
}


async def _attachments(session: SessionDep, settings: AttachmentSettingsDep) -> SessionAttachmentService:
    return SessionAttachmentService(session, settings=settings)


AttachmentsDep = Annotated[SessionAttachmentService, Depends(_attachments)]


async def _readable(session_id: uuid.UUID, user: CurrentUser, sessions: ServiceDep) -> SessionView:
    return await sessions.get(user, session_id)


async def _writable(session_id: uuid.UUID, user: CurrentUser, sessions: ServiceDep) -> SessionView:
    view = await sessions.get(user, session_id)
    SessionAttachmentService.check_owner(user, session_id, view.row.user_id)
    check_session_open(view.row, view.thread)
    return view


ReadableDep = Annotated[SessionView, Depends(_readable)]
WritableDep = Annotated[SessionView, Depends(_writable)]


@router.post(
    "/{session_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=list[SessionAttachmentRead],
    responses=_UPLOAD_ERRORS,
    openapi_extra=UPLOAD_BODY,
)
async def upload_session_attachments(
    view: WritableDep, uploads: UploadsDep, user: CurrentUser, service: AttachmentsDep
) -> list[SessionAttachmentRead]:
    """Add files to your session (one or more `file` parts; all are stored or none), then send their ids with
    a message. Sizes, types and how many a session holds: LOOPDESK_ATTACHMENT_* settings."""
    # `view` comes before `uploads`: a caller who may not add files is refused before the body is read.
    stored = await service.upload(user, view.row.session_id, uploads)
    return [SessionAttachmentRead.model_validate(row, from_attributes=True) for row in stored]


@router.get("/{session_id}/attachments", response_model=list[SessionAttachmentRead], responses=NOT_FOUND)
async def list_session_attachments(view: ReadableDep, service: AttachmentsDep) -> list[SessionAttachmentRead]:
    """The session's files, oldest first (its owner and staff)."""
    rows = await service.list(view.row.session_id)
    return [SessionAttachmentRead.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/{session_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with its stored type", "content": {"application/octet-stream": {}}},
        404: error_response("attachment_not_found", "Session or file not found (or not yours)"),
    },
)
async def download_session_attachment(view: ReadableDep, attachment_id: uuid.UUID, service: AttachmentsDep) -> Response:
    """The file as a download (images may be shown inline)."""
    row = await service.get(view.row.session_id, attachment_id)
    kind = "inline" if row.content_type in INLINE_TYPES else "attachment"
    headers = {
        **_SAFE_HEADERS,
        "Content-Disposition": content_disposition(kind, row.filename),
        "ETag": f'"{row.sha256}"',
    }
    return Response(content=row.data, media_type=row.content_type, headers=headers)

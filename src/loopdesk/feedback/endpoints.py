"""`POST /api/v1/feedback` (intake) and `/api/v1/tasks` (list, one task, its timeline). Customers see the
tasks they reported or joined; staff and admins see all (teams come with routing)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import error_body
from loopdesk.core.schemas import Page
from loopdesk.feedback.attachment_deps import FEEDBACK_BODY, AttachmentServiceDep, FeedbackBodyDep
from loopdesk.feedback.attachment_schemas import AttachmentRead, IntakeWithAttachmentsRead
from loopdesk.feedback.schemas import TaskEventRead, TaskQuery, TaskRead
from loopdesk.feedback.service import FeedbackService
from loopdesk.runtime.deps import GraphsDep
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.dedup.embeddings import Embedder, EmbedderUnavailable
from loopdesk.triage.dedup.endpoints import DedupSettingsDep

log = structlog.get_logger("loopdesk.feedback")

router = APIRouter(tags=["feedback"])


async def _embedder(settings: SettingsDep, dedup_settings: DedupSettingsDep) -> Embedder | None:
    # Without the model a report is still taken, only not de-duplicated: losing a report is worse.
    try:
        return await dedup.load_embedder(dedup_settings, allow_fallback=not settings.is_production)
    except EmbedderUnavailable:
        log.warning("feedback.dedup.unavailable")
        return None


async def _service(
    session: SessionDep,
    dedup_settings: DedupSettingsDep,
    embedder: Annotated[Embedder | None, Depends(_embedder)],
    graphs: GraphsDep,
) -> FeedbackService:
    return FeedbackService(session, embedder=embedder, dedup_settings=dedup_settings, graphs=graphs)


async def _read_service(session: SessionDep, dedup_settings: DedupSettingsDep) -> FeedbackService:
    return FeedbackService(session, embedder=None, dedup_settings=dedup_settings)


IntakeServiceDep = Annotated[FeedbackService, Depends(_service)]
ServiceDep = Annotated[FeedbackService, Depends(_read_service)]
NOT_FOUND = {
    404: {
        "description": "Task not found (or not yours)",
        "content": {"application/json": {"example": error_body("task_not_found", "Task not found")}},
    }
}


@router.post(
    "/api/v1/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=IntakeWithAttachmentsRead,
    responses={
        200: {"model": IntakeWithAttachmentsRead, "description": "A near-duplicate of an open task: joined to it"},
        413: {"description": "A file is larger than allowed (`attachment_too_large`); nothing is stored"},
        415: {"description": "A file's type is not allowed (`attachment_type_not_allowed`); nothing is stored"},
    },
    openapi_extra=FEEDBACK_BODY,
)
async def submit_feedback(
    user: CurrentUser,
    body: FeedbackBodyDep,
    service: IntakeServiceDep,
    attachments: AttachmentServiceDep,
    request: Request,
    response: Response,
) -> IntakeWithAttachmentsRead:
    """Report a problem or a suggestion: 201 with the new, classified task, or 200 with the open task it
    duplicates (`linked: true`, its `reporter_count` grown). As JSON, or as a multipart form with the same
    fields and `file` parts (screenshots, logs): the task and its files are stored together, or nothing is.
    The files of a report that joined an open task go to that task, for staff."""
    intake = await service.intake(user, body.data, client_ip=request.client.host if request.client else None)
    stored = await attachments.attach(user, intake.task, body.files) if body.files else []
    if intake.linked:
        response.status_code = status.HTTP_200_OK
    task = TaskRead.for_caller(intake.task, user)
    files = [AttachmentRead.model_validate(row) for row in stored]
    return IntakeWithAttachmentsRead(task=task, linked=intake.linked, similarity=intake.similarity, attachments=files)


@router.get(
    "/api/v1/tasks",
    response_model=Page[TaskRead],
    responses={403: {"description": "`team_id` is a filter for staff and admins"}},
)
async def list_tasks(user: CurrentUser, service: ServiceDep, query: Annotated[TaskQuery, Query()]) -> Page[TaskRead]:
    """Tasks the caller may see, newest first, filtered by every field given."""
    tasks, total = await service.search(user, query)
    items = [TaskRead.for_caller(task, user) for task in tasks]
    return Page[TaskRead](items=items, total=total, limit=query.limit, offset=query.offset)


@router.get("/api/v1/tasks/{task}", response_model=TaskRead, responses=NOT_FOUND)
async def get_task(task: str, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """One task, by id or task number (FB-2026-000123)."""
    return TaskRead.for_caller(await service.get(user, task), user)


@router.get("/api/v1/tasks/{task}/timeline", response_model=list[TaskEventRead], responses=NOT_FOUND)
async def get_timeline(task: str, user: CurrentUser, service: ServiceDep) -> list[TaskEventRead]:
    """Everything that happened to the task, oldest first; entries are never changed or removed. A reporter who
    joined another's task sees its stage changes only."""
    return [TaskEventRead.model_validate(event) for event in await service.timeline(user, task)]

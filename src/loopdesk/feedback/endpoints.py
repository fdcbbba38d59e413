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
from loopdesk.feedback.schemas import FeedbackCreate, IntakeRead, TaskEventRead, TaskQuery, TaskRead
from loopdesk.feedback.service import FeedbackService
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


def _service(
    session: SessionDep, dedup_settings: DedupSettingsDep, embedder: Annotated[Embedder | None, Depends(_embedder)]
) -> FeedbackService:
    return FeedbackService(session, embedder=embedder, dedup_settings=dedup_settings)


def _read_service(session: SessionDep, dedup_settings: DedupSettingsDep) -> FeedbackService:
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
    response_model=IntakeRead,
    responses={200: {"model": IntakeRead, "description": "A near-duplicate of an open task: joined to it"}},
)
async def submit_feedback(
    data: FeedbackCreate, user: CurrentUser, service: IntakeServiceDep, request: Request, response: Response
) -> IntakeRead:
    """Report a problem or a suggestion: 201 with the new, classified task, or 200 with the open task it
    duplicates (`linked: true`, its `reporter_count` grown)."""
    intake = await service.intake(user, data, client_ip=request.client.host if request.client else None)
    if intake.linked:
        response.status_code = status.HTTP_200_OK
    task = TaskRead.for_caller(intake.task, user)
    return IntakeRead(task=task, linked=intake.linked, similarity=intake.similarity)


@router.get("/api/v1/tasks", response_model=Page[TaskRead])
async def list_tasks(user: CurrentUser, service: ServiceDep, query: Annotated[TaskQuery, Query()]) -> Page[TaskRead]:
    """Tasks the caller may see, newest first."""
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

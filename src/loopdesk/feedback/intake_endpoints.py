"""`POST /api/v1/feedback/handover` (support hand-over, staff) and `POST /api/v1/tasks/{task}/reporters/{user_id}/
unlink` (staff): the intake sources beside the customer's own report, and undoing a wrong duplicate join."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status

from loopdesk.auth.deps import StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.feedback.attachment_deps import AttachmentSettingsDep
from loopdesk.feedback.attachment_schemas import AttachmentRead
from loopdesk.feedback.endpoints import NOT_FOUND, IntakeServiceDep
from loopdesk.feedback.handover import Handover, HandoverService
from loopdesk.feedback.intake_schemas import HandoverIn, HandoverRead, UnlinkReporterIn, UnlinkReporterRead
from loopdesk.feedback.schemas import TaskRead
from loopdesk.feedback.unlink import unlink_reporter
from loopdesk.runtime.deps import PersistenceDep

router = APIRouter(tags=["feedback"])


async def _handover(
    session: SessionDep, feedback: IntakeServiceDep, persistence: PersistenceDep, settings: AttachmentSettingsDep
) -> HandoverService:
    return HandoverService(session, feedback, persistence=persistence, attachments=settings)


HandoverServiceDep = Annotated[HandoverService, Depends(_handover)]


@router.post(
    "/api/v1/feedback/handover",
    status_code=status.HTTP_201_CREATED,
    response_model=HandoverRead,
    responses={
        200: {"model": HandoverRead, "description": "A near-duplicate of an open task: the customer joined it"},
        404: {"description": "The conversation is not one the caller may read (`conversation_not_found`)"},
        422: {"description": "Unknown customer, another customer's conversation, or no messages"},
    },
)
async def hand_over(data: HandoverIn, user: StaffUser, service: HandoverServiceDep, response: Response) -> HandoverRead:
    """Escalate a support conversation to a problem report for the customer (`source_channel: support`): the
    transcript is attached as transcript.json and, without a description, summarised in it. Classified,
    de-duplicated and run through the workflow like any report."""
    done = await service.hand_over(
        user,
        Handover(
            title=data.title,
            conversation_id=data.conversation_id,
            customer_id=data.customer_id,
            description=data.description,
            issue_type=data.issue_type,
        ),
    )
    if done.intake.linked:
        response.status_code = status.HTTP_200_OK
    return HandoverRead(
        task=TaskRead.for_caller(done.intake.task, user),
        linked=done.intake.linked,
        similarity=done.intake.similarity,
        transcript=AttachmentRead.model_validate(done.transcript),
    )


@router.post(
    "/api/v1/tasks/{task}/reporters/{user_id}/unlink",
    response_model=UnlinkReporterRead,
    responses={
        **NOT_FOUND,
        409: {"description": "The task's own reporter (`first_reporter`), or no de-duplication model"},
    },
)
async def unlink_reporter_endpoint(
    task: str,
    user_id: uuid.UUID,
    user: StaffUser,
    feedback: IntakeServiceDep,
    data: Annotated[UnlinkReporterIn | None, Body()] = None,
) -> UnlinkReporterRead:
    """A reporter who joined the task as a near-duplicate is not one: they leave it, get a task of their own from
    the report they sent, and are never joined to this task again."""
    done = await unlink_reporter(feedback, user, task, user_id, reason=data.reason if data else None)
    return UnlinkReporterRead(
        task=TaskRead.for_caller(done.task, user), own_task=TaskRead.for_caller(done.own_task, user)
    )

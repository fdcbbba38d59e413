"""The workflow's human gates over REST: `/api/v1/tasks/{task}/review|assign|progress|request-update|verify|
close|reopen|csat`. `{task}` is an id or a task number. Each answers with the task as it now is; a step the
workflow graph takes next (e.g. resolved → verification) follows within moments, and its WebSocket frames say so."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.errors import error_body
from loopdesk.feedback.actions import WorkflowService
from loopdesk.feedback.schemas import (
    AssignIn,
    CloseIn,
    CsatIn,
    PriorityIn,
    ProgressIn,
    ReopenIn,
    ReviewIn,
    TaskRead,
    UpdateRequestIn,
    VerifyIn,
)
from loopdesk.runtime.deps import GraphsDep

router = APIRouter(tags=["feedback"])


async def _service(session: SessionDep, graphs: GraphsDep) -> WorkflowService:
    return WorkflowService(session, graphs)


ServiceDep = Annotated[WorkflowService, Depends(_service)]


def _errors(*extra: tuple[int, str, str]) -> dict[int | str, dict[str, object]]:
    responses: dict[int | str, dict[str, object]] = {
        404: {"description": "Task not found (or not yours)", "content": _example("task_not_found", "Task not found")},
        409: {
            "description": "The task is not at a stage where this action applies",
            "content": _example("invalid_transition", "The task is not at a stage where this action applies"),
        },
    }
    for status, code, message in extra:
        responses[status] = {"description": message, "content": _example(code, message)}
    return responses


def _example(code: str, message: str) -> dict[str, object]:
    return {"application/json": {"example": error_body(code, message)}}


FORBIDDEN = (403, "action_not_allowed", "You may not take this action on this task")


@router.post(
    "/api/v1/tasks/{task}/review",
    response_model=TaskRead,
    responses=_errors(FORBIDDEN, (422, "assignee_required", "Nobody is assigned: name an assignee")),
)
async def review_task(task: str, data: ReviewIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Plan review (staff), at `plan_review`: `approve` → assigned; `modify` with the `plan` → assigned;
    `reject` with a `reason` → rejected."""
    return TaskRead.for_caller(await service.review(user, task, data), user)


@router.post("/api/v1/tasks/{task}/assign", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def assign_task(task: str, data: AssignIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Give the task to another staff member (and team), from routing until resolved; the stage stays."""
    return TaskRead.for_caller(await service.assign(user, task, data), user)


@router.post("/api/v1/tasks/{task}/progress", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def report_progress(task: str, data: ProgressIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """The assignee's progress: `done: false` → in_progress (work goes on); `done: true` → resolved, and the
    reporter is asked to verify."""
    return TaskRead.for_caller(await service.progress(user, task, data), user)


@router.post("/api/v1/tasks/{task}/request-update", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def request_update(task: str, data: UpdateRequestIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Staff ask the assignee for a progress report: in_progress → feedback_pending."""
    return TaskRead.for_caller(await service.request_update(user, task, data), user)


@router.post("/api/v1/tasks/{task}/verify", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def verify_task(task: str, data: VerifyIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """The reporter (or staff) checks the fix: `pass` → closed; `fail` → back to in_progress."""
    return TaskRead.for_caller(await service.verify(user, task, data), user)


@router.post("/api/v1/tasks/{task}/close", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def close_task(task: str, data: CloseIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Staff close a resolved task without verification (with a reason)."""
    return TaskRead.for_caller(await service.close(user, task, data), user)


@router.post("/api/v1/tasks/{task}/reopen", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def reopen_task(task: str, data: ReopenIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Reopen a closed task (its reporter or staff: → in_progress) or a rejected one (staff: → plan_review)."""
    return TaskRead.for_caller(await service.reopen(user, task, data), user)


@router.post("/api/v1/tasks/{task}/priority", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def set_priority(task: str, data: PriorityIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """Staff change an open task's priority level (P0–P4) with a reason; its SLA deadline follows."""
    return TaskRead.for_caller(await service.reprioritise(user, task, data), user)


@router.post("/api/v1/tasks/{task}/csat", response_model=TaskRead, responses=_errors(FORBIDDEN))
async def rate_task(task: str, data: CsatIn, user: CurrentUser, service: ServiceDep) -> TaskRead:
    """The reporter rates how the closed task was handled (1–5, with an optional comment)."""
    return TaskRead.for_caller(await service.rate(user, task, data), user)

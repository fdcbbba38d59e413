"""The feedback workflow's stages and the one way a task changes stage.

Twelve stages (the seed's `workflow_stage`). The automatic steps (analysis, routing, the hand-over from
resolved to verification) run in the workflow graph (feedback/graph.py) on the runtime; the human gates
(plan review, progress, verification, closing, reopening) are REST actions (WorkflowService). Both change a
task through `move`, which refuses any step the table below does not allow, restarts the stage's SLA clock,
writes the timeline and queues the stage's notifications, all in the caller's transaction. A human action
then resumes the graph, in the same transaction, so it carries out what follows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Conflict
from loopdesk.feedback.models import Task, TaskEvent
from loopdesk.feedback.repository import TaskRepository

log = structlog.get_logger("loopdesk.feedback.workflow")

# from-stage → the stages a task may move to next. Reopening: closed → in_progress (plan_review when nobody is
# assigned), rejected → plan_review.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("classified", "rejected"),
    "classified": ("analyzed", "rejected"),
    "analyzed": ("routed", "rejected"),
    "routed": ("plan_review", "rejected"),
    "plan_review": ("assigned", "rejected"),
    "assigned": ("in_progress", "resolved", "rejected"),
    "in_progress": ("feedback_pending", "resolved"),
    "feedback_pending": ("in_progress", "resolved"),
    "resolved": ("verification", "closed", "in_progress"),
    "verification": ("closed", "in_progress"),
    "closed": ("in_progress", "plan_review"),
    "rejected": ("plan_review",),
}
# Who hears of a stage change besides the reporters (every reporter, duplicates' too): see `audience`.
_TO_ASSIGNEE = frozenset({"assigned", "feedback_pending", "in_progress", "verification", "closed"})
_TO_LEAD = frozenset({"plan_review", "rejected"})


class InvalidTransition(Conflict):
    code, message = "invalid_transition", "The task cannot move to that stage from where it is"


def now() -> datetime:
    return datetime.now(UTC)


async def move(
    session: AsyncSession,
    task: Task,
    to: str,
    *,
    reason: str,
    actor_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> TaskEvent:
    """Move the task to stage `to` (409 `invalid_transition` when the table does not allow it)."""
    previous = task.workflow_stage
    allowed = TRANSITIONS.get(previous, ())
    if to not in allowed:
        raise InvalidTransition(
            detail={"task": task.task_number, "stage": previous, "to": to, "allowed": list(allowed)}
        )
    at = now()
    task.workflow_stage = to
    task.stage_entered_at = at
    task.sla_warned_at, task.escalation_level = None, 0
    if to == "resolved":
        task.resolved_at = at
    elif to == "closed":
        task.closed_at = at
    elif to == "in_progress" and previous in ("resolved", "verification", "closed"):
        task.resolved_at = task.closed_at = None  # back to work: not resolved any more
    repository = TaskRepository(session)
    event = await repository.add_event(
        task.id, "stage", actor_id=actor_id, from_value=previous, to_value=to, reason=reason, data=data
    )
    await notify_change(session, task, event, stage=to)
    log.info("feedback.task.stage", task_id=str(task.id), stage=to, previous=previous)
    return event


async def audience(session: AsyncSession, task: Task, *, stage: str) -> list[uuid.UUID]:
    """The people told of a change: every reporter; the assignee and the team lead where the stage concerns them."""
    from loopdesk.feedback.routing import team_lead

    people = list(await TaskRepository(session).reporter_ids(task.id))
    if task.assignee_id is not None and stage in _TO_ASSIGNEE:
        people.append(task.assignee_id)
    if task.team_id is not None and stage in _TO_LEAD:
        lead = await team_lead(session, task.team_id)
        if lead is not None:
            people.append(lead)
    return list(dict.fromkeys(people))


async def notify_change(
    session: AsyncSession,
    task: Task,
    event: TaskEvent,
    *,
    stage: str,
    users: list[uuid.UUID] | None = None,
    name: str | None = None,
) -> None:
    """Queue the notifications of a timeline entry (written to the outbox in this transaction)."""
    from loopdesk.notifications.service import notify

    people = users if users is not None else await audience(session, task, stage=stage)
    await notify(
        session,
        task,
        event=name or f"stage:{stage}",
        event_id=event.id,
        users=people,
        data={"stage": stage, "from": event.from_value, "reason": event.reason},
    )

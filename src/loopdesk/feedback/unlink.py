"""Staff unlink a reporter who joined a task as a near-duplicate: they leave its reporters (reporter_count falls),
get a task of their own from the report they sent (its `duplicate_linked` entry keeps the title and description),
and the pair is recorded as not duplicates in the de-duplication index (triage/dedup `unlink`), so that reporter
is never joined to that task again. Both timelines say so. The request owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from loopdesk.core.errors import Conflict, NotFound
from loopdesk.feedback.models import Task
from loopdesk.feedback.schemas import CUSTOMER_CHANNELS, FeedbackCreate
from loopdesk.feedback.service import DEDUP_KIND, FeedbackService, TaskNotFound
from loopdesk.triage.dedup import service as dedup
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.feedback.unlink")


class JoinedReporterNotFound(NotFound):
    code, message = "reporter_not_found", "This user did not join the task as a duplicate's reporter"


class FirstReporter(Conflict):
    code, message = "first_reporter", "The task's own reporter cannot be unlinked from it"


class DedupUnavailable(Conflict):
    code, message = "dedup_unavailable", "The de-duplication model is unavailable: the unlink could not be recorded"


@dataclass(frozen=True, slots=True)
class Unlinked:
    task: Task
    own_task: Task


async def unlink_reporter(
    feedback: FeedbackService, staff: User, key: str, user_id: uuid.UUID, *, reason: str | None = None
) -> Unlinked:
    repository = feedback.repository
    readable = await repository.get_readable(staff, key)
    task = await repository.get_for_update(readable.id) if readable is not None else None
    if task is None:
        raise TaskNotFound(detail={"task": key})
    if user_id == task.reporter_id:
        raise FirstReporter(detail={"task": task.task_number, "user_id": str(user_id)})
    joined = await repository.joined_report(task.id, user_id)
    if joined is None or not await repository.remove_reporter(task.id, user_id):
        raise JoinedReporterNotFound(detail={"task": task.task_number, "user_id": str(user_id)})
    if feedback.embedder is None:
        raise DedupUnavailable(detail={"task": task.task_number})
    reporter = await feedback.session.get(User, user_id)
    assert reporter is not None  # task_reporters references users
    data = joined.data
    channel = data.get("source_channel")
    report = FeedbackCreate(
        title=data.get("title") or task.title,
        # Entries from before descriptions were kept hold the title alone.
        description=data.get("description") or data.get("title") or task.title,
        source_channel=channel if channel in CUSTOMER_CHANNELS else "api",
    )
    own = (await feedback.intake(reporter, report, client_ip=None, actor=staff, join_duplicates=False)).task
    await dedup.unlink(feedback.session, own.id, task.id, staff.id)
    task.reporter_count = await repository.count_reporters(task.id)
    why = reason or "not a duplicate: unlinked by staff"
    await repository.add_event(
        task.id,
        "duplicate_unlinked",
        actor_id=staff.id,
        from_value=str(task.reporter_count + 1),
        to_value=str(task.reporter_count),
        reason=why,
        data={"reporter_id": str(user_id), "own_task_id": str(own.id), "own_task_number": own.task_number},
    )
    await repository.add_event(
        own.id,
        "duplicate_unlinked",
        actor_id=staff.id,
        reason=why,
        data={"unlinked_from": str(task.id), "unlinked_from_number": task.task_number, "dedup_kind": DEDUP_KIND},
    )
    log.info("feedback.task.reporter_unlinked", task_id=str(task.id), own_task_id=str(own.id))
    return Unlinked(await repository.save(task), await repository.save(own))

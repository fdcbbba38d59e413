"""The people's side of the workflow: plan review, assignment, progress, verification, closing, reopening and
the reporter's rating. Each action locks the task, checks the caller may take it and that the task is where the
action applies (never skipping a human gate), changes the task through `workflow.move`, and resumes the task's
workflow graph in the same transaction (the run and the change commit together or not at all)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Conflict, Forbidden, LoopdeskError
from loopdesk.feedback.models import Task
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.schemas import (
    AssignIn,
    CloseIn,
    CsatIn,
    PriorityIn,
    ProgressIn,
    ReopenIn,
    ReviewIn,
    UpdateRequestIn,
    VerifyIn,
)
from loopdesk.feedback.service import TaskNotFound
from loopdesk.feedback.workflow import move, notify_change, now
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.users.models import SYSTEM_USER_ID, Role, User

log = structlog.get_logger("loopdesk.feedback.actions")


class UnprocessableEntity(LoopdeskError):
    status_code, code, message = 422, "invalid_action", "The action's input cannot be used"


class UnknownTeam(UnprocessableEntity):
    code, message = "team_not_found", "No team with this id"


class ActionForbidden(Forbidden):
    code, message = "action_not_allowed", "You may not take this action on this task"


class WrongStage(Conflict):
    code, message = "invalid_transition", "The task is not at a stage where this action applies"


class AssigneeRequired(UnprocessableEntity):
    code, message = "assignee_required", "Nobody is assigned: name an assignee (a staff member)"


class NotStaff(UnprocessableEntity):
    code, message = "not_staff", "The assignee must be an active staff member or admin"


class WorkflowService:
    def __init__(self, session: AsyncSession, graphs: GraphRegistry):
        self.session = session
        self.graphs = graphs
        self.repository = TaskRepository(session)

    # -- starting and resuming the graph ----------------------------------------------------------

    async def start(self, task: Task) -> None:
        """The task's workflow thread and its first run (analysis and routing), in the caller's transaction."""
        task.workflow_thread_id = task.workflow_thread_id or uuid.uuid4()
        await self._run(task, {"task_id": str(task.id)}, resume=None)

    async def _resume(self, task: Task, action: dict[str, Any]) -> None:
        if task.workflow_thread_id is None:  # a task from before the workflow: give it one now
            task.workflow_thread_id = uuid.uuid4()
        await self._run(task, {"task_id": str(task.id), "action": action}, resume=action)

    async def _run(self, task: Task, payload: dict[str, Any], *, resume: dict[str, Any] | None) -> None:
        from loopdesk.feedback.graph import GRAPH_ID
        from loopdesk.runtime.assistants.service import AssistantService
        from loopdesk.runtime.runs.schemas import Command, RunCreate
        from loopdesk.runtime.runs.service import RunService
        from loopdesk.runtime.threads.models import Thread

        if GRAPH_ID not in self.graphs:  # served without the workflow (a custom registry): the REST side still works
            log.warning("feedback.workflow.not_served", task_id=str(task.id))
            return
        system = await self.session.get(User, SYSTEM_USER_ID)
        if system is None:
            raise RuntimeError("the system account is missing: run the migrations")
        assistant_id = await AssistantService(self.session, self.graphs).ensure_internal_assistant(GRAPH_ID)
        thread = await self.session.get(Thread, task.workflow_thread_id)
        waiting = thread is not None and thread.status in ("interrupted", "busy")
        data = RunCreate(
            assistant_id=str(assistant_id),
            input=None if resume is not None and waiting else payload,
            command=Command(resume=resume) if resume is not None and waiting else None,
            multitask_strategy="enqueue",
            if_not_exists="create",
            metadata={"task_id": str(task.id), "task_number": task.task_number},
        )
        await RunService(self.session, self.graphs).create(system, task.workflow_thread_id, data, resume_when_busy=True)

    # -- helpers ----------------------------------------------------------------------------------

    async def _locked(self, user: User, key: str) -> Task:
        readable = await self.repository.get_readable(user, key)
        task = await self.repository.get_for_update(readable.id) if readable is not None else None
        if task is None:
            raise TaskNotFound(detail={"task": key})
        return task

    @staticmethod
    def _expect(task: Task, action: str, stages: tuple[str, ...]) -> None:
        if task.workflow_stage not in stages:
            raise WrongStage(
                detail={
                    "task": task.task_number,
                    "action": action,
                    "stage": task.workflow_stage,
                    "allowed_from": stages,
                }
            )

    @staticmethod
    def _staff(user: User, task: Task, action: str) -> None:
        if not user.is_staff:
            raise ActionForbidden(detail={"task": task.task_number, "action": action, "who": "staff"})

    def _responded(self, task: Task, user: User) -> None:
        if user.is_staff and task.first_response_at is None:
            task.first_response_at = now()

    async def _staff_member(self, user_id: uuid.UUID) -> User:
        person = await self.session.get(User, user_id)
        if person is None or person.id == SYSTEM_USER_ID or not person.is_active or not person.is_staff:
            raise NotStaff(detail={"user_id": str(user_id)})
        return person

    async def _set_assignee(self, task: Task, user: User, assignee_id: uuid.UUID, reason: str) -> None:
        if assignee_id == task.assignee_id:
            return
        await self._staff_member(assignee_id)
        previous = task.assignee_id
        task.assignee_id = assignee_id
        event = await self.repository.add_event(
            task.id,
            "assignee",
            actor_id=user.id,
            from_value=str(previous) if previous else None,
            to_value=str(assignee_id),
            reason=reason,
        )
        await notify_change(self.session, task, event, stage=task.workflow_stage, users=[assignee_id], name="assigned")

    async def _done(self, task: Task) -> Task:
        return await self.repository.save(task)

    # -- actions ----------------------------------------------------------------------------------

    async def review(self, user: User, key: str, data: ReviewIn) -> Task:
        """Plan review (staff): approve → assigned; modify → the given plan, then assigned; reject → rejected."""
        task = await self._locked(user, key)
        self._staff(user, task, "review")
        self._expect(task, "review", ("plan_review",))
        self._responded(task, user)
        if data.action == "reject":
            await move(self.session, task, "rejected", actor_id=user.id, reason=data.reason or "plan rejected")
        else:
            if data.action == "modify":
                before = task.resolution_plan
                task.resolution_plan = {**data.plan, "written_by": str(user.id)} if data.plan else before
                await self.repository.add_event(
                    task.id,
                    "plan",
                    actor_id=user.id,
                    from_value="draft",
                    to_value="modified",
                    reason=data.reason or "plan modified in review",
                    data={"before": before, "after": task.resolution_plan},
                )
            if data.assignee_id is not None:
                await self._set_assignee(task, user, data.assignee_id, data.reason or "named in the review")
            if task.assignee_id is None:
                raise AssigneeRequired(detail={"task": task.task_number})
            await move(
                self.session,
                task,
                "assigned",
                actor_id=user.id,
                reason=data.reason or f"plan {'approved' if data.action == 'approve' else 'modified and approved'}",
                data={"action": data.action, "assignee_id": str(task.assignee_id)},
            )
        await self._resume(task, {"action": f"review.{data.action}", "actor_id": str(user.id)})
        return await self._done(task)

    async def assign(self, user: User, key: str, data: AssignIn) -> Task:
        """Give the task to another person (staff), at any open stage from routing on; the stage stays."""
        task = await self._locked(user, key)
        self._staff(user, task, "assign")
        self._expect(
            task, "assign", ("routed", "plan_review", "assigned", "in_progress", "feedback_pending", "resolved")
        )
        self._responded(task, user)
        if data.team_id is not None and data.team_id != task.team_id:
            from loopdesk.feedback.models import Team

            team = await self.session.get(Team, data.team_id)
            if team is None:
                raise UnknownTeam(detail={"team_id": str(data.team_id)})
            await self.repository.add_event(
                task.id,
                "team",
                actor_id=user.id,
                from_value=str(task.team_id) if task.team_id else None,
                to_value=team.name,
                reason=data.reason,
            )
            task.team_id = team.id
        await self._set_assignee(task, user, data.assignee_id, data.reason or "reassigned")
        return await self._done(task)

    async def progress(self, user: User, key: str, data: ProgressIn) -> Task:
        """The assignee's report: not done → in_progress (the loop); done → resolved, then verification."""
        task = await self._locked(user, key)
        if user.id != task.assignee_id and user.role != Role.admin:
            raise ActionForbidden(detail={"task": task.task_number, "action": "progress", "who": "the assignee"})
        self._expect(task, "progress", ("assigned", "in_progress", "feedback_pending"))
        self._responded(task, user)
        report = {"done": data.done, "notes": data.notes, "percent": data.percent, "at": now().isoformat()}
        task.person_feedback = {"last": report, "count": int((task.person_feedback or {}).get("count", 0)) + 1}
        event = await self.repository.add_event(
            task.id, "progress", actor_id=user.id, to_value="done" if data.done else "not_done", reason=data.notes,
            data=report,
        )  # fmt: skip
        if data.done:
            await move(self.session, task, "resolved", actor_id=user.id, reason=data.notes or "fixed")
        elif task.workflow_stage != "in_progress":
            await move(self.session, task, "in_progress", actor_id=user.id, reason=data.notes or "work under way")
        else:  # still in progress: the reporters hear of it all the same
            await notify_change(self.session, task, event, stage="in_progress", name="progress")
        await self._resume(task, {"action": "progress", "done": data.done, "actor_id": str(user.id)})
        return await self._done(task)

    async def request_update(self, user: User, key: str, data: UpdateRequestIn) -> Task:
        """Staff ask the assignee for a progress report: in_progress → feedback_pending."""
        task = await self._locked(user, key)
        self._staff(user, task, "request_update")
        self._expect(task, "request_update", ("in_progress",))
        await move(self.session, task, "feedback_pending", actor_id=user.id, reason=data.reason or "progress requested")
        await self._resume(task, {"action": "request_update", "actor_id": str(user.id)})
        return await self._done(task)

    async def verify(self, user: User, key: str, data: VerifyIn) -> Task:
        """The reporter or staff: pass → closed; fail → back to in_progress."""
        task = await self._locked(user, key)
        if not user.is_staff and user.id != task.reporter_id:
            raise ActionForbidden(detail={"task": task.task_number, "action": "verify", "who": "the reporter or staff"})
        self._expect(task, "verify", ("resolved", "verification"))
        if task.workflow_stage == "resolved":  # the graph has not handed it over yet: do it here
            await move(self.session, task, "verification", reason="resolved: verification requested")
        if data.result == "pass":
            await move(self.session, task, "closed", actor_id=user.id, reason=data.notes or "verified: fixed")
        else:
            await move(self.session, task, "in_progress", actor_id=user.id, reason=data.notes or "verification failed")
        await self._resume(task, {"action": f"verify.{data.result}", "actor_id": str(user.id)})
        return await self._done(task)

    async def close(self, user: User, key: str, data: CloseIn) -> Task:
        """Staff close a resolved task without the reporter's verification (e.g. no answer), with a reason."""
        task = await self._locked(user, key)
        self._staff(user, task, "close")
        self._expect(task, "close", ("resolved", "verification"))
        await move(self.session, task, "closed", actor_id=user.id, reason=data.reason)
        await self._resume(task, {"action": "close", "actor_id": str(user.id)})
        return await self._done(task)

    async def reopen(self, user: User, key: str, data: ReopenIn) -> Task:
        """The reporter or staff reopen a closed task (→ in_progress); staff reopen a rejected one (→ plan_review)."""
        task = await self._locked(user, key)
        if task.workflow_stage == "rejected":
            self._staff(user, task, "reopen")
        elif not user.is_staff and user.id != task.reporter_id:
            raise ActionForbidden(detail={"task": task.task_number, "action": "reopen", "who": "the reporter or staff"})
        self._expect(task, "reopen", ("closed", "rejected"))
        task.reopen_count += 1
        task.archived_at = None  # active again
        target = "plan_review" if task.workflow_stage == "rejected" or task.assignee_id is None else "in_progress"
        await move(self.session, task, target, actor_id=user.id, reason=data.reason)
        await self._resume(task, {"action": "reopen", "actor_id": str(user.id)})
        return await self._done(task)

    async def reprioritise(self, user: User, key: str, data: PriorityIn) -> Task:
        """Staff set the priority level of an open task (with a reason); the SLA deadline follows the new level,
        counted from the report's arrival on the region's clock."""
        from loopdesk.feedback.classification import TriageConfig
        from loopdesk.triage.sla import sla_targets

        task = await self._locked(user, key)
        self._staff(user, task, "priority")
        if task.workflow_stage in ("received", "closed", "rejected"):
            raise WrongStage(detail={"task": task.task_number, "action": "priority", "stage": task.workflow_stage})
        self._responded(task, user)
        previous = task.priority_level
        if data.level == previous:
            return await self._done(task)
        config = TriageConfig()
        zone = config.region.timezone_for(task.region or "international")
        targets = sla_targets(data.level, "classified", config.sla, start=task.created_at, tz=zone)
        task.priority_level, task.sla_deadline = data.level, targets.resolution_due
        task.priority_reason = {**(task.priority_reason or {}), "set_by": str(user.id), "reason": data.reason}
        event = await self.repository.add_event(
            task.id,
            "priority",
            actor_id=user.id,
            from_value=previous,
            to_value=data.level,
            reason=data.reason,
            data={"sla_deadline": targets.resolution_due.isoformat()},
        )
        await notify_change(self.session, task, event, stage=task.workflow_stage, name="priority")
        return await self._done(task)

    async def rate(self, user: User, key: str, data: CsatIn) -> Task:
        """The reporter rates a closed task (1–5); a second rating replaces the first."""
        task = await self._locked(user, key)
        if user.id != task.reporter_id:
            raise ActionForbidden(detail={"task": task.task_number, "action": "csat", "who": "the reporter"})
        self._expect(task, "csat", ("closed",))
        previous = task.csat
        task.csat, task.csat_comment = data.score, data.comment
        await self.repository.add_event(
            task.id,
            "csat",
            actor_id=user.id,
            from_value=str(previous) if previous else None,
            to_value=str(data.score),
            reason=data.comment,
        )
        return await self._done(task)

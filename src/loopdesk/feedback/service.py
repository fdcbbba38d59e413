"""Intake and reads of feedback tasks. A report becomes a task at `received`, is classified in the same
transaction and moves to `classified`, each step on the timeline; a near-duplicate of an open task joins
it instead. Services flush; the request owns the transaction."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Forbidden, NotFound
from loopdesk.feedback.classification import Contact, TriageConfig, classify_report
from loopdesk.feedback.models import Task, TaskEvent
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.schemas import CUSTOMER_CHANNELS, FeedbackCreate, TaskQuery
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import Embedder
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.feedback")

DEDUP_KIND = "task"  # the dedup index's item id is the task id


class TaskNotFound(NotFound):
    code, message = "task_not_found", "Task not found"


class SourceChannelForbidden(Forbidden):
    code, message = "source_channel_forbidden", "Only staff may submit on the support or auto channel"


@dataclass(frozen=True, slots=True)
class Intake:
    task: Task
    linked: bool
    similarity: float | None = None


class FeedbackService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        embedder: Embedder | None,
        dedup_settings: DedupSettings,
        triage: TriageConfig = TriageConfig(),
        graphs: GraphRegistry | None = None,
    ):
        self.session = session
        self.repository = TaskRepository(session)
        self.embedder = embedder  # None: the model is unavailable, reports are taken without de-duplication
        self.dedup_settings = dedup_settings
        self.triage = triage
        self.graphs = graphs  # None: reads only (intake starts each new task's workflow graph)

    async def intake(
        self,
        user: User,
        data: FeedbackCreate,
        *,
        client_ip: str | None,
        actor: User | None = None,
        issue_type: str | None = None,
        join_duplicates: bool = True,
    ) -> Intake:
        """`user` reports; `actor` (default: `user`) submits for them: staff or the system on the support and
        auto channels. `issue_type`: a hint that overrides the classifier's; `join_duplicates=False` always opens
        a task (auto intake joins by incident, an unlinked reporter gets their own task)."""
        actor = actor or user
        channel = data.source_channel or "api"
        if channel not in CUSTOMER_CHANNELS and not actor.is_staff:
            raise SourceChannelForbidden(detail={"source_channel": channel, "allowed": list(CUSTOMER_CHANNELS)})
        text = f"{data.title}\n{data.description}"
        joined = await self._join_duplicate(user, data, text) if join_duplicates else None
        if joined is not None:
            return joined
        task = await self._create(user, data, channel, actor=actor)
        contact = Contact(ip=client_ip, phone=data.phone, registered_region=data.registered_region)
        await self._classify(task, contact, issue_type=issue_type)
        if self.embedder is not None:
            await dedup.index_item(
                self.session,
                task.id,
                DEDUP_KIND,
                text,
                owner_id=user.id,
                settings=self.dedup_settings,
                embedder=self.embedder,
            )
        if self.graphs is not None:
            from loopdesk.feedback.actions import WorkflowService

            await WorkflowService(self.session, self.graphs).start(task)
        log.info("feedback.task.created", task_id=str(task.id), task_number=task.task_number)
        return Intake(await self.repository.save(task), linked=False)

    async def _create(self, user: User, data: FeedbackCreate, channel: str, *, actor: User) -> Task:
        now = datetime.now(UTC)
        task = Task(
            id=uuid.uuid4(),
            task_number=await self.repository.next_task_number(now),
            title=data.title,
            description=data.description,
            source_channel=channel,
            reporter_id=user.id,
            affected_modules=list(dict.fromkeys(data.affected_modules)),
            workflow_stage="received",
            stage_entered_at=now,
            reporter_count=1,
            created_at=now,
            updated_at=now,
        )
        await self.repository.add(task)
        await self.repository.add_event(
            task.id,
            "created",
            actor_id=actor.id,
            to_value="received",
            data={"source_channel": channel, **({"reporter_id": str(user.id)} if actor.id != user.id else {})},
        )
        return task

    async def _classify(self, task: Task, contact: Contact, *, issue_type: str | None = None) -> None:
        found = await asyncio.to_thread(
            classify_report, task.title, task.description, contact, received_at=task.created_at, config=self.triage
        )
        if issue_type is not None and issue_type != found.issue_type:  # the submitter knows better than the model
            found = replace(found, issue_type=issue_type, confidence=1.0)
        task.issue_type, task.severity, task.category = found.issue_type, found.severity, found.category
        task.language, task.region, task.region_reason = found.language, found.region, found.region_reason
        task.priority_score, task.priority_level = found.priority.score, found.priority.level
        task.priority_reason = found.priority.model_dump(mode="json")
        task.sla_deadline = found.sla_deadline
        await self.repository.add_event(
            task.id,
            "classified",
            to_value=found.issue_type,
            reason=found.region_reason["explanation"],
            data={
                "issue_type": found.issue_type,
                "issue_type_from": "hint" if issue_type is not None else "classifier",
                "confidence": found.confidence,
                "severity": found.severity,
                "category": found.category,
                "language": found.language,
                "region": found.region,
                "region_rule": found.region_reason["rule"],
            },
        )
        await self.repository.add_event(
            task.id,
            "priority",
            to_value=found.priority.level,
            reason=found.priority.explain(),
            data={"score": found.priority.score, "sla_deadline": found.sla_deadline.isoformat()},
        )
        await self._move(task, "classified", reason="classified at intake")

    async def _move(self, task: Task, stage: str, *, reason: str, actor_id: uuid.UUID | None = None) -> None:
        from loopdesk.feedback.workflow import move

        await move(self.session, task, stage, reason=reason, actor_id=actor_id)

    async def _join_duplicate(self, user: User, data: FeedbackCreate, text: str) -> Intake | None:
        if self.embedder is None:
            return None
        check = await dedup.check_duplicates(
            self.session, None, text, DEDUP_KIND, record=False, settings=self.dedup_settings, embedder=self.embedder
        )
        linked = [match for match in check.matches if match.decision == "linked"]
        refused = await dedup.unlinked_for_owner(self.session, user.id, [match.item_id for match in linked])
        linked = [match for match in linked if match.item_id not in refused]  # staff unlinked this reporter there
        originals = await self.repository.open_originals([match.item_id for match in linked])
        match = next((m for m in linked if m.item_id in originals), None)  # matches come best first
        if match is None:
            return None
        task = originals[match.item_id]
        new_reporter = await self.repository.add_reporter(task.id, user.id)
        task.reporter_count = await self.repository.count_reporters(task.id)
        await self.repository.add_event(
            task.id,
            "duplicate_linked",
            actor_id=user.id,
            to_value=str(task.reporter_count),
            reason="a near-duplicate report joined this task",
            data={
                "reporter_id": str(user.id),
                "new_reporter": new_reporter,
                "title": data.title,
                "description": data.description,  # what the reporter's own task is opened from if staff unlink
                "source_channel": data.source_channel or "api",
                "similarity": round(match.similarity, 4),
                "score": match.score,
            },
        )
        log.info("feedback.task.duplicate_linked", task_id=str(task.id), similarity=match.similarity)
        return Intake(await self.repository.save(task), linked=True, similarity=match.similarity)

    async def get(self, user: User, key: str) -> Task:
        task = await self.repository.get_readable(user, key)
        if task is None:
            raise TaskNotFound(detail={"task": key})
        return task

    async def search(self, user: User, query: TaskQuery) -> tuple[list[Task], int]:
        if query.team_id is not None and not user.is_staff:  # a joined task's team is hidden from its joiners
            raise Forbidden("Only staff may filter tasks by team", detail={"filter": "team_id"})
        return await self.repository.list_readable(user, query)

    async def timeline(self, user: User, key: str) -> list[TaskEvent]:
        task = await self.get(user, key)
        events = await self.repository.events(task.id)
        if user.is_staff or task.reporter_id == user.id:
            return list(events)
        return [event for event in events if event.kind == "stage"]  # a joiner follows progress only

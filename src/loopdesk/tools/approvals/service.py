"""Approvals: a tool call waiting for a person. Decisions come by REST, the WebSocket, or a raw
Agent Protocol resume; each is recorded once (first decision wins), audited, and resumes the run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.service import record
from loopdesk.core.errors import BadRequest, Conflict, Forbidden, NotFound
from loopdesk.core.metrics import APPROVAL_DECISION_SECONDS, APPROVALS
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.runs.schemas import Command
from loopdesk.runtime.threads.models import Thread
from loopdesk.support.conversations.models import EventKind
from loopdesk.support.conversations.service import record_event
from loopdesk.tools.approvals.schemas import ApprovalQuery, Decision
from loopdesk.tools.base import ToolSpec
from loopdesk.tools.models import Approval
from loopdesk.tools.registry import ToolRegistry
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.approvals")


class ApprovalNotFound(NotFound):
    code, message = "approval_not_found", "Approval not found"


class ApprovalNotPending(Conflict):
    code, message = "approval_not_pending", "This approval was already decided"


class ApprovalExpired(Conflict):
    code, message = "approval_expired", "This approval expired: the tool call was cancelled"


class StaffApprovalRequired(Forbidden):
    code, message = "staff_approval_required", "A staff member must approve this action"


class InvalidArguments(BadRequest):
    status_code, code, message = 422, "invalid_arguments", "The edited arguments do not match the tool's schema"


def readable(caller: User):  # type: ignore[no-untyped-def]
    statement = select(Approval)
    if not caller.is_staff:  # staff and admins decide for everyone; customers for their own threads
        statement = statement.where(Approval.requester_id == caller.id)
    return statement


async def open_approval(
    session: AsyncSession,
    *,
    key: str,
    tool_call_id: str,
    thread_id: uuid.UUID,
    run_id: uuid.UUID | None,
    assistant_id: uuid.UUID | None,
    requester_id: uuid.UUID | None,
    spec: ToolSpec,
    args: dict[str, Any],
    ttl: timedelta,
    approver: str = "any",
) -> Approval:
    """The approval of a tool call, created once (a re-executed step finds the same record)."""
    statement = (
        insert(Approval)
        .values(
            id=uuid.uuid4(),
            tool_call_key=key,
            tool_call_id=tool_call_id,
            thread_id=thread_id,
            run_id=run_id,
            assistant_id=assistant_id,
            requester_id=requester_id,
            tool_name=spec.name,
            side_effect=spec.side_effect,
            description=spec.description[:1000] or None,
            args=args,
            status="pending",
            approver=approver,
            expires_at=datetime.now(UTC) + ttl,
        )
        .on_conflict_do_nothing(index_elements=["tool_call_key"])
        .returning(Approval.id)
    )
    created = await session.scalar(statement)
    approval = await session.scalar(select(Approval).where(Approval.tool_call_key == key))
    assert approval is not None
    if created is not None:
        await record(
            session, "approval.requested", "approval", approval.id, actor_id=requester_id, tool=spec.name, args=args
        )
        log.info("approvals.requested", approval_id=str(approval.id), tool=spec.name, thread_id=str(thread_id))
        await record_event(
            session,
            thread_id=thread_id,
            kind=EventKind.APPROVAL_REQUESTED,
            user_id=requester_id,
            tool=spec.name,
            data={"approval_id": str(approval.id), "args": args, "expires_at": approval.expires_at.isoformat()},
            assistant_id=assistant_id,
        )
    return approval


async def record_decision(
    session: AsyncSession,
    approval_id: uuid.UUID,
    status: str,
    *,
    actor_id: uuid.UUID | None,
    via: str,
    message: str | None = None,
    edited_args: dict[str, Any] | None = None,
) -> Approval | None:
    """Record a decision if the approval is still pending (the first decision wins); None otherwise."""
    statement = (
        update(Approval)
        .where(Approval.id == approval_id, Approval.status == "pending")
        .values(
            status=status,
            decided_by=actor_id,
            decided_via=via,
            decided_at=func.now(),
            decision_message=message,
            edited_args=edited_args,
        )
        .returning(Approval)
        .execution_options(synchronize_session=False)
    )
    decided = await session.scalar(statement)
    if decided is None:
        return None
    APPROVALS.labels(status).inc()
    detail: dict[str, Any] = {"via": via, "tool": decided.tool_name}
    if message:
        detail["message"] = message
    if edited_args is not None:
        detail["edited_args"] = edited_args
    await record(session, f"approval.{status}", "approval", approval_id, actor_id=actor_id, **detail)
    log.info("approvals.decided", approval_id=str(approval_id), status=status, via=via)
    decided_at = decided.decided_at or datetime.now(UTC)
    if status != "expired":
        APPROVAL_DECISION_SECONDS.labels(status).observe(max((decided_at - decided.created_at).total_seconds(), 0))
    await record_event(
        session,
        thread_id=decided.thread_id,
        kind=EventKind.APPROVAL_DECIDED,
        user_id=decided.requester_id,
        actor_id=actor_id,
        tool=decided.tool_name,
        data={
            "approval_id": str(approval_id),
            "decision": status,
            "via": via,
            "decided_by": str(actor_id) if actor_id else None,
            "seconds_to_decide": round((decided_at - decided.created_at).total_seconds(), 3),
        },
    )
    return decided


def resume_value(approval: Approval) -> dict[str, Any]:
    """What the waiting tool step receives: the decision as recorded."""
    return Decision.recorded(
        approval.status, approval_id=str(approval.id), message=approval.decision_message, args=approval.edited_args
    )


class ApprovalService:
    def __init__(self, session: AsyncSession, graphs: GraphRegistry, tools: ToolRegistry | None = None):
        self.session = session
        self.graphs = graphs
        self.tools = tools

    async def list(self, caller: User, query: ApprovalQuery) -> tuple[Sequence[Approval], int]:
        statement = readable(caller)
        if query.status is not None:
            statement = statement.where(Approval.status == query.status)
        if query.thread_id is not None:
            statement = statement.where(Approval.thread_id == query.thread_id)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(Approval.created_at.desc(), Approval.id).limit(query.limit).offset(query.offset)
        )
        return rows.all(), int(total or 0)

    async def get(self, caller: User, approval_id: uuid.UUID, *, for_update: bool = False) -> Approval:
        statement = readable(caller).where(Approval.id == approval_id)
        if for_update:
            statement = statement.with_for_update()
        approval = await self.session.scalar(statement)
        if approval is None:
            raise ApprovalNotFound(detail={"approval_id": str(approval_id)})
        return approval

    async def decide(
        self, caller: User, approval_id: uuid.UUID, decision: Decision, *, via: str
    ) -> tuple[Approval, uuid.UUID | None]:
        """Record the decision and resume the run: (the approval, the id of the run that continues)."""
        # Lock order as everywhere: the thread's row first, then what hangs off it.
        approval = await self.get(caller, approval_id)
        thread = await self.session.get(Thread, approval.thread_id, with_for_update=True)
        approval = await self.get(caller, approval_id, for_update=True)
        if approval.status != "pending":
            raise ApprovalNotPending(f"This approval is already {approval.status}", detail={"status": approval.status})
        if approval.expires_at <= datetime.now(UTC):
            raise ApprovalExpired(detail={"expires_at": approval.expires_at.isoformat()})
        if approval.approver == "staff" and not caller.is_staff and decision.type != "reject":
            raise StaffApprovalRequired()  # the customer may withdraw their request, not approve it
        edited = None
        if decision.type == "edit":
            edited = decision.args if decision.args is not None else {}
            spec = self.tools.spec(approval.tool_name) if self.tools is not None else None
            if spec is not None and (problem := self.tools.validate(spec, edited)) is not None:  # type: ignore[union-attr]
                raise InvalidArguments(detail={"reason": problem})
        decided = await record_decision(
            self.session,
            approval.id,
            decision.status,
            actor_id=caller.id,
            via=via,
            message=decision.message,
            edited_args=edited,
        )
        if decided is None:  # lost a race with another decision or the expiry sweep
            raise ApprovalNotPending()
        await self.session.refresh(approval)
        run_id = await self.resume(thread, approval) if thread is not None else None
        return approval, run_id

    async def resume(self, thread: Thread, approval: Approval) -> uuid.UUID | None:
        """A run that continues the waiting step with the recorded decision, on behalf of the thread's
        owner (who may not be the one who decided), queued behind a run still finishing."""
        from loopdesk.runtime.runs.service import RunService

        owner = await self.session.get(User, thread.owner_id)
        if owner is None:
            return None
        value = resume_value(approval)
        interrupt_id = _interrupt_for(thread, approval.id)
        if interrupt_id is None and thread.status != "busy":  # the thread moved on: no step waits for this
            log.info("approvals.nothing_to_resume", approval_id=str(approval.id), thread_status=thread.status)
            return None
        assistant = (thread.metadata_ or {}).get("assistant_id") or (
            str(approval.assistant_id) if approval.assistant_id else None
        )
        if assistant is None:
            return None
        run = await RunService(self.session, self.graphs).start_chat_turn(
            owner,
            thread.thread_id,
            assistant_id=assistant,
            command=Command(resume={interrupt_id: value} if interrupt_id else value),
            metadata={"approval_id": str(approval.id)},
            resume_when_busy=True,
        )
        return run.run_id


def _interrupt_for(thread: Thread, approval_id: uuid.UUID) -> str | None:
    for group in (thread.interrupts or {}).values():
        for item in group:
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, dict) and value.get("approval_id") == str(approval_id):
                return item.get("id")
    return None


async def expire_due(database: Any, graphs: GraphRegistry, *, batch: int = 100) -> int:
    """Approvals past their expiry: recorded as expired (by nobody) and their runs resumed with the
    cancellation; the waiting step tells the model and sends `interrupt_expired`. Returns how many."""
    expired = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            rows = (
                await session.scalars(
                    select(Approval)
                    .where(Approval.status == "pending", Approval.expires_at <= func.now())
                    .order_by(Approval.expires_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for approval in rows:
                thread = await session.get(Thread, approval.thread_id, with_for_update=True)
                decided = await record_decision(session, approval.id, "expired", actor_id=None, via="expiry")
                if decided is None:
                    continue
                await session.refresh(approval)
                expired += 1
                if thread is not None:
                    await ApprovalService(session, graphs).resume(thread, approval)
        if len(rows) < batch:
            break
    if expired:
        log.info("approvals.expired", count=expired)
    return expired

"""Handing a conversation to people: one open escalation per conversation, staff told at once (their WebSocket,
e-mail when configured, and every channel that takes `conversation.escalated`: webhooks retried with backoff by
the notifications outbox), all in the transaction that records it. A staff member takes it over, replies as a
person in the customer's own stream, and hands it back or closes it. A defect the desk meets (a write the
backend failed) also becomes a bug report of the feedback loop, with the conversation's transcript attached."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import LoopdeskError
from loopdesk.notifications.service import notify_people
from loopdesk.support import events
from loopdesk.support.conversations.models import Escalation
from loopdesk.support.repository import EscalationRepository
from loopdesk.tools.gate import Caller
from loopdesk.users.models import User
from loopdesk.users.repository import UserRepository

log = structlog.get_logger("loopdesk.support.escalation")

ESCALATED = "conversation.escalated"
MESSAGE = "conversation.message"


async def escalate(
    session: AsyncSession, caller: Caller, *, reason: str, kind: str, task_id: uuid.UUID | None = None
) -> Escalation:
    """The conversation's open escalation: a new one (recorded, staff told), or the one already open."""
    repository = EscalationRepository(session)
    escalation = await repository.add(
        thread_id=caller.thread_id, user_id=caller.user_id, reason=reason[:2000], kind=kind, task_id=task_id
    )
    if escalation is None:
        existing = await repository.open_for(caller.thread_id)
        assert existing is not None
        return existing
    await events.record(
        session,
        caller,
        "escalated",
        data={"reason": escalation.reason, "kind": kind, "escalation_id": str(escalation.id)},
    )
    staff = [user.id for user in await UserRepository(session).staff_members()]
    await notify_people(
        session,
        cause=f"escalation:{escalation.id}",
        event=ESCALATED,
        users=staff,
        subject=f"Support conversation handed to people: {kind}",
        body=f"{escalation.reason}\n\nOpen the staff inbox to take it over (thread {caller.thread_id}).",
        payload={
            "conversation": {
                "thread_id": str(caller.thread_id),
                "escalation_id": str(escalation.id),
                "reason": escalation.reason,
                "kind": kind,
            }
        },
    )
    return escalation


async def report_defect(session: AsyncSession, runtime: Any, caller: Caller, reason: str) -> uuid.UUID | None:
    """A bug report for the customer with the transcript (the feedback loop's intake and workflow); None when it
    could not be taken (the escalation goes on without it)."""
    from loopdesk.feedback.handover import report_as_system

    if runtime.graphs is None or runtime.persistence is None or caller.thread_id is None:
        return None
    try:
        async with session.begin_nested():
            done = await report_as_system(
                session,
                runtime,
                caller.thread_id,
                title=f"Support desk: {reason}"[:500],
                description=f"A support conversation met a failure on the customer's behalf: {reason}.",
                issue_type="bug",
            )
    except LoopdeskError as exc:
        log.warning("support.defect_not_reported", thread_id=str(caller.thread_id), error=exc.code)
        return None
    return done.intake.task.id


async def tell_staff(session: AsyncSession, thread_id: uuid.UUID, text: str) -> None:
    """The customer wrote while a person has the conversation: that person hears of it."""
    escalation = await EscalationRepository(session).open_for(thread_id)
    if escalation is None or escalation.assigned_to is None:
        return
    await notify_people(
        session,
        cause=f"message:{thread_id}:{uuid.uuid4()}",
        event=MESSAGE,
        users=[escalation.assigned_to],
        subject="New message in a conversation you took over",
        body=text[:2000],
        payload={
            "conversation": {"thread_id": str(thread_id), "escalation_id": str(escalation.id)},
            "text": text[:2000],
        },
    )


async def take(session: AsyncSession, escalation: Escalation, staff: User) -> None:
    now = datetime.now(UTC)
    await EscalationRepository(session).set(escalation.id, status="taken", assigned_to=staff.id, taken_at=now)
    caller = Caller(escalation.thread_id, None, None, escalation.user_id)
    await events.record(
        session,
        caller,
        "takeover",
        actor_id=staff.id,
        data={"escalation_id": str(escalation.id), "staff": staff.display_name},
    )


async def release(session: AsyncSession, escalation: Escalation, staff: User, *, close: bool) -> None:
    """Back to the agents (`close` false: the bot answers again) or done (`close` true)."""
    now = datetime.now(UTC)
    await EscalationRepository(session).set(escalation.id, status="closed", closed_at=now)
    caller = Caller(escalation.thread_id, None, None, escalation.user_id)
    await events.record(
        session, caller, "released", actor_id=staff.id, data={"escalation_id": str(escalation.id), "closed": close}
    )

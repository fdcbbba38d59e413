"""The only code that queries the conversation record and its event stream (analytics.py aside, which only
aggregates). Reads a caller can reach go through `readable_statement`: staff and admins read every
conversation, a customer the ones they are the customer of."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import with_expression

from loopdesk.runtime.threads.models import Thread
from loopdesk.support.conversations.models import (
    Conversation,
    Escalation,
    EventKind,
    Status,
    SupportEvent,
)
from loopdesk.support.conversations.schemas import ConversationQuery
from loopdesk.users.models import User

LIVE_ESCALATION = ("open", "taken")


def readable_statement(caller: User) -> Select[tuple[Conversation]]:
    """The conversations `caller` may read, each with its live escalation's id (`escalation_id`). An object
    the session holds already is read again, so that id is current too."""
    live = (
        select(Escalation.id)
        .where(Escalation.thread_id == Conversation.thread_id, Escalation.status.in_(LIVE_ESCALATION))
        .correlate(Conversation)
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(Conversation)
        .options(with_expression(Conversation.escalation_id, live))
        .execution_options(populate_existing=True)
    )
    if not caller.is_staff:
        statement = statement.where(Conversation.user_id == caller.id)
    return statement


async def get_conversation(session: AsyncSession, thread_id: uuid.UUID) -> Conversation | None:
    """The thread's conversation row, unscoped (for the supervisor, which acts for the thread)."""
    return await session.get(Conversation, thread_id, populate_existing=True)


async def get_event(session: AsyncSession, event_id: int) -> SupportEvent | None:
    return await session.get(SupportEvent, event_id)


class ConversationRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    # -- writing the stream ----------------------------------------------------------------------

    async def lock_thread(self, thread_id: uuid.UUID) -> uuid.UUID | None:
        """The thread's owner, its row held FOR KEY SHARE (None: no such thread). Taken before the
        conversation's row, as everywhere: the thread first, then what hangs off it."""
        statement = select(Thread.owner_id).where(Thread.thread_id == thread_id).with_for_update(key_share=True)
        return await self.session.scalar(statement)

    async def conversation_for_update(
        self, thread_id: uuid.UUID, *, user_id: uuid.UUID | None, started_at: datetime
    ) -> Conversation:
        """The thread's conversation row, created by the first event, locked for this transaction."""
        await self.session.execute(
            insert(Conversation)
            .values(
                thread_id=thread_id,
                user_id=user_id,
                status=Status.ACTIVE.value,
                started_at=started_at,
                last_activity_at=started_at,
            )
            .on_conflict_do_nothing(index_elements=["thread_id"])
        )
        statement = (
            select(Conversation)
            .where(Conversation.thread_id == thread_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        conversation = await self.session.scalar(statement)
        assert conversation is not None
        return conversation

    async def add_event(self, event: SupportEvent) -> int:
        self.session.add(event)
        await self.session.flush()
        return event.id

    # -- reading ---------------------------------------------------------------------------------

    async def get_readable(self, caller: User, thread_id: uuid.UUID) -> Conversation | None:
        return await self.session.scalar(readable_statement(caller).where(Conversation.thread_id == thread_id))

    async def search(self, caller: User, query: ConversationQuery) -> tuple[Sequence[Conversation], int]:
        statement = readable_statement(caller)
        if query.status is not None:
            statement = statement.where(Conversation.status == query.status)
        if query.resolution is not None:
            statement = statement.where(Conversation.resolution == query.resolution)
        if query.agent is not None:
            statement = statement.where(Conversation.agents_used.contains([query.agent]))
        if query.user_id is not None:
            statement = statement.where(Conversation.user_id == query.user_id)
        if query.since is not None:
            statement = statement.where(Conversation.started_at >= query.since)
        if query.until is not None:
            statement = statement.where(Conversation.started_at < query.until)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(Conversation.last_activity_at.desc(), Conversation.thread_id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return rows.all(), int(total or 0)

    async def timeline(
        self, thread_id: uuid.UUID, *, after: int | None, limit: int
    ) -> Sequence[tuple[SupportEvent, str | None]]:
        """Events in the order they were written, each with its actor's display name; `limit + 1` rows."""
        statement = (
            select(SupportEvent, User.display_name)
            .outerjoin(User, User.id == SupportEvent.actor_id)
            .where(SupportEvent.thread_id == thread_id)
            .order_by(SupportEvent.id)
            .limit(limit + 1)
        )
        if after is not None:
            statement = statement.where(SupportEvent.id > after)
        return [(event, name) for event, name in (await self.session.execute(statement)).all()]

    # -- the quiet-period sweep ------------------------------------------------------------------

    @staticmethod
    def _quiet(cutoff: datetime) -> Select[tuple[Conversation]]:
        """Conversations quiet since `cutoff` that nobody is handling: not closed, not taken over by a
        person, without a live escalation."""
        live = exists().where(Escalation.thread_id == Conversation.thread_id, Escalation.status.in_(LIVE_ESCALATION))
        return select(Conversation).where(
            Conversation.status.not_in((Status.CLOSED.value, Status.HUMAN.value)),
            Conversation.last_activity_at <= cutoff,
            ~live,
        )

    async def quiet_ids(self, cutoff: datetime, *, batch: int) -> Sequence[uuid.UUID]:
        statement = self._quiet(cutoff).order_by(Conversation.last_activity_at).limit(batch)
        return (await self.session.scalars(statement.with_only_columns(Conversation.thread_id))).all()

    async def quiet_for_update(self, thread_id: uuid.UUID, cutoff: datetime) -> Conversation | None:
        """The conversation, locked, if it is still quiet (checked again under the lock)."""
        statement = (
            self._quiet(cutoff)
            .where(Conversation.thread_id == thread_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return await self.session.scalar(statement)

    async def since_last_customer_message(self, thread_id: uuid.UUID) -> Sequence[SupportEvent]:
        """The events after the customer's last message (all of them if the customer never wrote)."""
        last = (
            select(func.max(SupportEvent.id))
            .where(
                SupportEvent.thread_id == thread_id,
                SupportEvent.kind == EventKind.MESSAGE.value,
                SupportEvent.data["role"].astext == "user",
            )
            .scalar_subquery()
        )
        statement = (
            select(SupportEvent)
            .where(SupportEvent.thread_id == thread_id, SupportEvent.id > func.coalesce(last, 0))
            .order_by(SupportEvent.id)
        )
        return (await self.session.scalars(statement)).all()

    async def undecided_approvals(self, thread_id: uuid.UUID) -> Sequence[str]:
        """Approval ids the stream shows requested and never decided."""
        requested = SupportEvent.data["approval_id"].astext
        other = SupportEvent.__table__.alias("decided")
        decided = exists().where(
            and_(
                other.c.thread_id == thread_id,
                other.c.kind == EventKind.APPROVAL_DECIDED.value,
                other.c.data["approval_id"].astext == requested,
            )
        )
        statement = select(requested).where(
            SupportEvent.thread_id == thread_id,
            SupportEvent.kind == EventKind.APPROVAL_REQUESTED.value,
            ~decided,
        )
        return (await self.session.scalars(statement)).all()

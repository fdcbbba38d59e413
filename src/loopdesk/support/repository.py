"""SQL for the support application's own tables: agent sets and escalations (conversations and events are
support/conversations' tables)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.support.conversations.models import AgentSet as AgentSetRow
from loopdesk.support.conversations.models import Escalation

OPEN = ("open", "taken")


class AgentSetRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def latest_id(self) -> int | None:
        return await self.session.scalar(select(func.max(AgentSetRow.id)))

    async def get(self, set_id: int) -> AgentSetRow | None:
        return await self.session.get(AgentSetRow, set_id)

    async def latest(self) -> AgentSetRow | None:
        return await self.session.scalar(select(AgentSetRow).order_by(AgentSetRow.id.desc()).limit(1))

    async def add(self, document: str, source: str, created_by: uuid.UUID | None) -> AgentSetRow:
        row = AgentSetRow(document=document, source=source, created_by=created_by)
        self.session.add(row)
        await self.session.flush()
        return row


class EscalationRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def open_for(self, thread_id: uuid.UUID, *, for_update: bool = False) -> Escalation | None:
        statement = select(Escalation).where(Escalation.thread_id == thread_id, Escalation.status.in_(OPEN))
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def add(self, **values: Any) -> Escalation | None:
        """The new escalation, or None when the thread has one open already (one open per thread)."""
        statement = (
            insert(Escalation)
            .values(id=uuid.uuid4(), status="open", created_at=datetime.now(UTC), **values)
            .on_conflict_do_nothing()
            .returning(Escalation.id)
        )
        escalation_id = await self.session.scalar(statement)
        return await self.session.get(Escalation, escalation_id) if escalation_id is not None else None

    async def get(self, escalation_id: uuid.UUID, *, for_update: bool = False) -> Escalation | None:
        return await self.session.get(Escalation, escalation_id, with_for_update=for_update, populate_existing=True)

    async def listing(
        self,
        *,
        statuses: Collection[str] | None,
        thread_id: uuid.UUID | None,
        assigned_to: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Escalation], int]:
        """Escalations newest first; `statuses` None: whatever their status."""
        statement = select(Escalation)
        if statuses is not None:
            statement = statement.where(Escalation.status.in_(statuses))
        if thread_id is not None:
            statement = statement.where(Escalation.thread_id == thread_id)
        if assigned_to is not None:
            statement = statement.where(Escalation.assigned_to == assigned_to)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        rows = await self.session.scalars(
            statement.order_by(Escalation.created_at.desc(), Escalation.id).limit(limit).offset(offset)
        )
        return list(rows), int(total)

    async def set(self, escalation_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(Escalation).where(Escalation.id == escalation_id).values(**values))

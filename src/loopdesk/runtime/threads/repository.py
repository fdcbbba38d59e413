"""SQL for threads, always scoped to the caller (admins see all)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.runtime.threads.models import Thread
from loopdesk.users.models import Role, User


def readable_statement(caller: User) -> Select[tuple[Thread]]:
    statement = select(Thread)
    if caller.role != Role.admin:
        statement = statement.where(Thread.owner_id == caller.id)
    return statement


def _filtered(
    statement: Select, metadata: dict[str, Any] | None, values: dict[str, Any] | None, status: str | None
) -> Select:
    if metadata:
        statement = statement.where(Thread.metadata_.contains(metadata))
    if values:
        statement = statement.where(Thread.values.contains(values))
    if status:
        statement = statement.where(Thread.status == status)
    return statement


class ThreadRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get_readable(self, caller: User, thread_id: uuid.UUID, *, for_update: bool = False) -> Thread | None:
        statement = readable_statement(caller).where(Thread.thread_id == thread_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def get_any(self, thread_id: uuid.UUID) -> Thread | None:
        """Whoever owns it: for a domain that checked the caller's role itself (support staff, the system)."""
        return await self.session.get(Thread, thread_id)

    async def exists(self, thread_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Thread.thread_id).where(Thread.thread_id == thread_id)) is not None

    async def readable_ids(self, caller: User, thread_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            readable_statement(caller).with_only_columns(Thread.thread_id).where(Thread.thread_id.in_(thread_ids))
        )
        return list(rows.all())

    async def search(
        self,
        caller: User,
        *,
        metadata: dict[str, Any] | None,
        values: dict[str, Any] | None,
        status: str | None,
        ids: Sequence[uuid.UUID] | None,
        limit: int,
        offset: int,
        sort_by: str,
        descending: bool,
    ) -> Sequence[Thread]:
        statement = _filtered(readable_statement(caller), metadata, values, status)
        if ids is not None:
            statement = statement.where(Thread.thread_id.in_(ids))
        column = getattr(Thread, sort_by)
        order = column.desc() if descending else column.asc()
        rows = await self.session.scalars(statement.order_by(order, Thread.thread_id).limit(limit).offset(offset))
        return rows.all()

    async def count(
        self, caller: User, *, metadata: dict[str, Any] | None, values: dict[str, Any] | None, status: str | None
    ) -> int:
        statement = _filtered(readable_statement(caller), metadata, values, status)
        return await self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0

    async def add(self, thread: Thread) -> Thread:
        self.session.add(thread)
        await self.session.flush()
        await self.session.refresh(thread)
        return thread

    async def expired_ids(self) -> list[uuid.UUID]:
        """Threads past their TTL and not busy, locked (others sweeping at once skip them)."""
        rows = await self.session.scalars(
            select(Thread.thread_id)
            .where(Thread.expires_at < func.now(), Thread.status != "busy")
            .with_for_update(skip_locked=True)
        )
        return list(rows.all())

    async def delete_many(self, thread_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(Thread).where(Thread.thread_id.in_(thread_ids)))

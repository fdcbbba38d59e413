"""The only code that queries the notification tables: channels (matched to a task, replaced as a list) and the
outbox of deliveries (written once per dedup key, locked one at a time for sending)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.notifications.models import NotificationChannel, NotificationDelivery

_REPLACE_LOCK = 0x6E6F7469  # pg_advisory_xact_lock key of channel replacements ("noti")


class ChannelRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list(self) -> list[NotificationChannel]:
        return list(await self.session.scalars(select(NotificationChannel).order_by(NotificationChannel.name)))

    async def get(self, channel_id: uuid.UUID) -> NotificationChannel | None:
        return await self.session.get(NotificationChannel, channel_id)

    async def matching(self, *, region: str | None, team_id: uuid.UUID | None) -> list[NotificationChannel]:
        """Enabled channels for the task's region and team (a channel without one takes every task)."""
        statement = (
            select(NotificationChannel)
            .where(
                NotificationChannel.enabled.is_(True),
                or_(NotificationChannel.region.is_(None), NotificationChannel.region == region),
                or_(NotificationChannel.team_id.is_(None), NotificationChannel.team_id == team_id),
            )
            .order_by(NotificationChannel.name)
        )
        return list(await self.session.scalars(statement))

    async def lock(self) -> None:
        """Serialise replacements (they would race on the names): the second waits for the first to commit."""
        await self.session.execute(select(func.pg_advisory_xact_lock(_REPLACE_LOCK)))

    async def replace(self, specs: Sequence[dict[str, Any]]) -> list[NotificationChannel]:
        """Keep exactly these channels (column values; `id` names a stored channel, updated in place so its
        deliveries keep pointing at it); every stored channel not named goes."""
        stored = {channel.id: channel for channel in await self.list()}
        keep = {spec["id"] for spec in specs if spec.get("id") in stored}
        for channel_id, channel in stored.items():
            if channel_id not in keep:
                await self.session.delete(channel)
        for channel_id in keep:  # names may move between kept channels: free them first (the index is unique)
            stored[channel_id].name = f"~{channel_id}"
        await self.session.flush()
        saved = []
        for spec in specs:
            values = {key: value for key, value in spec.items() if key != "id"}
            channel = stored.get(spec.get("id"))  # type: ignore[arg-type]
            if channel is None:
                channel = NotificationChannel(**values)
                self.session.add(channel)
            else:
                for key, value in values.items():
                    setattr(channel, key, value)
            saved.append(channel)
        await self.session.flush()
        for channel in saved:
            await self.session.refresh(channel)
        return saved


class DeliveryRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
        """Insert the rows whose dedup key is new; (id, status) of those inserted."""
        if not rows:
            return []
        statement = (
            insert(NotificationDelivery)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=[NotificationDelivery.dedup_key])
            .returning(NotificationDelivery.id, NotificationDelivery.status)
        )
        return [(row.id, row.status) for row in await self.session.execute(statement)]

    def _filtered(
        self, *, task_id: uuid.UUID | None, status: str | None, kind: str | None, event: str | None
    ) -> Select[tuple[NotificationDelivery]]:
        statement = select(NotificationDelivery)
        if task_id is not None:
            statement = statement.where(NotificationDelivery.task_id == task_id)
        if status is not None:
            statement = statement.where(NotificationDelivery.status == status)
        if kind is not None:
            statement = statement.where(NotificationDelivery.kind == kind)
        if event is not None:
            statement = statement.where(NotificationDelivery.event == event)
        return statement

    async def list(
        self,
        *,
        task_id: uuid.UUID | None = None,
        status: str | None = None,
        kind: str | None = None,
        event: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[NotificationDelivery], int]:
        """Newest first."""
        statement = self._filtered(task_id=task_id, status=status, kind=kind, event=event)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        page = statement.order_by(NotificationDelivery.id.desc()).limit(limit).offset(offset)
        return list(await self.session.scalars(page)), int(total or 0)

    async def lock_due(self, *, now: datetime | None, delivery_id: int | None = None) -> NotificationDelivery | None:
        """The next pending delivery that is due (or that one, if it is), locked for this transaction; rows other
        senders hold are skipped, so concurrent workers never send one twice. `now` None: the database's."""
        due = func.now() if now is None else now
        statement = (
            select(NotificationDelivery)
            .where(NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= due)
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if delivery_id is not None:
            statement = statement.where(NotificationDelivery.id == delivery_id)
        return await self.session.scalar(statement)

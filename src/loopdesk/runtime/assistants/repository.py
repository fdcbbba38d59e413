"""SQL for assistants. Callers see the default (system) assistants, the organisation's (made by staff or an
admin: the operator's assistants customers run) and their own; admins see all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.plainread import EntityRead
from loopdesk.runtime.assistants.models import Assistant, AssistantVersion
from loopdesk.users.models import SYSTEM_USER_ID, Role, User


def _readable(caller_id: Any) -> Select[tuple[Assistant]]:
    operators = select(User.id).where(User.role.in_((Role.staff, Role.admin)), User.id != SYSTEM_USER_ID)
    return select(Assistant).where(
        or_(Assistant.owner_id.is_(None), Assistant.owner_id == caller_id, Assistant.owner_id.in_(operators))
    )


def readable_statement(caller: User) -> Select[tuple[Assistant]]:
    return select(Assistant) if caller.role == Role.admin else _readable(caller.id)


# One assistant by id, as an admin and as anyone else reads it; built once (every run reads its assistant).
_BY_ID = {
    True: select(Assistant).where(Assistant.assistant_id == bindparam("assistant_id")),
    False: _readable(bindparam("caller_id")).where(Assistant.assistant_id == bindparam("assistant_id")),
}
_BY_ID_FOR_UPDATE = {admin: EntityRead(Assistant, statement.with_for_update()) for admin, statement in _BY_ID.items()}
_READ_BY_ID = {admin: EntityRead(Assistant, statement) for admin, statement in _BY_ID.items()}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(statement: Select, metadata: dict[str, Any] | None, graph_id: str | None, name: str | None) -> Select:
    if metadata:
        statement = statement.where(Assistant.metadata_.contains(metadata))
    if graph_id:
        statement = statement.where(Assistant.graph_id == graph_id)
    if name:
        statement = statement.where(Assistant.name.ilike(f"%{_escape_like(name)}%"))
    return statement


class AssistantRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get_readable(
        self, caller: User, assistant_id: uuid.UUID, *, for_update: bool = False
    ) -> Assistant | None:
        admin = caller.role == Role.admin
        read = (_BY_ID_FOR_UPDATE if for_update else _READ_BY_ID)[admin]
        found = await read.first(self.session, {"assistant_id": assistant_id, "caller_id": caller.id})
        return None if found is None else found[0]

    async def exists(self, assistant_id: uuid.UUID) -> bool:
        return (
            await self.session.scalar(select(Assistant.assistant_id).where(Assistant.assistant_id == assistant_id))
            is not None
        )

    async def search(
        self,
        caller: User,
        *,
        metadata: dict[str, Any] | None,
        graph_id: str | None,
        name: str | None,
        limit: int,
        offset: int,
        sort_by: str,
        descending: bool,
    ) -> Sequence[Assistant]:
        column = {"metadata": Assistant.metadata_}.get(sort_by, getattr(Assistant, sort_by))
        order = column.desc() if descending else column.asc()
        statement = _filtered(readable_statement(caller), metadata, graph_id, name)
        rows = await self.session.scalars(statement.order_by(order, Assistant.assistant_id).limit(limit).offset(offset))
        return rows.all()

    async def count(
        self, caller: User, *, metadata: dict[str, Any] | None, graph_id: str | None, name: str | None
    ) -> int:
        statement = _filtered(readable_statement(caller), metadata, graph_id, name)
        return await self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0

    async def add(self, assistant: Assistant) -> Assistant:
        self.session.add(assistant)
        await self.session.flush()
        await self.add_version(assistant)
        await self.session.refresh(assistant)
        return assistant

    async def add_version(self, assistant: Assistant) -> None:
        self.session.add(
            AssistantVersion(
                assistant_id=assistant.assistant_id,
                version=assistant.version,
                graph_id=assistant.graph_id,
                name=assistant.name,
                description=assistant.description,
                config=assistant.config,
                context=assistant.context,
                metadata_=assistant.metadata_,
            )
        )
        await self.session.flush()

    async def max_version(self, assistant_id: uuid.UUID) -> int:
        return (
            await self.session.scalar(
                select(func.max(AssistantVersion.version)).where(AssistantVersion.assistant_id == assistant_id)
            )
            or 0
        )

    async def get_version(self, assistant_id: uuid.UUID, version: int) -> AssistantVersion | None:
        return await self.session.get(AssistantVersion, (assistant_id, version))

    async def versions(
        self, assistant_id: uuid.UUID, *, metadata: dict[str, Any] | None, limit: int, offset: int
    ) -> Sequence[AssistantVersion]:
        statement = select(AssistantVersion).where(AssistantVersion.assistant_id == assistant_id)
        if metadata:
            statement = statement.where(AssistantVersion.metadata_.contains(metadata))
        rows = await self.session.scalars(
            statement.order_by(AssistantVersion.version.desc()).limit(limit).offset(offset)
        )
        return rows.all()

    async def delete(self, assistant: Assistant) -> None:
        await self.session.execute(delete(Assistant).where(Assistant.assistant_id == assistant.assistant_id))

    async def ensure_system_assistant(
        self, assistant_id: uuid.UUID, graph_id: str, *, owner_id: uuid.UUID | None = None
    ) -> bool:
        """Insert the default assistant of a graph unless it exists; True if inserted."""
        values = {
            "owner_id": owner_id,
            "assistant_id": assistant_id,
            "graph_id": graph_id,
            "name": graph_id,
            "config": {},
            "context": {},
            "metadata_": {"created_by": "system"},
            "version": 1,
        }
        inserted = await self.session.scalar(
            insert(Assistant).values(**values).on_conflict_do_nothing().returning(Assistant.assistant_id)
        )
        if inserted is not None:
            version = {key: value for key, value in values.items() if key != "owner_id"}
            await self.session.execute(insert(AssistantVersion).values(**version).on_conflict_do_nothing())
        return inserted is not None

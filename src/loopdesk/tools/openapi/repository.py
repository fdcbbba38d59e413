"""SQL for OpenAPI imports (`openapi_imports`): the REST endpoints, the service and the import job read and
write the rows through here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.tools.models import OpenAPIImport

_NAMING_LOCK = 0x6F70656E617069  # one advisory lock: two jobs never pick the same free name


class ImportRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def latest(self, limit: int) -> Sequence[OpenAPIImport]:
        """Newest first."""
        rows = await self.session.scalars(select(OpenAPIImport).order_by(OpenAPIImport.created_at.desc()).limit(limit))
        return rows.all()

    async def get(self, import_id: uuid.UUID, *, for_update: bool = False) -> OpenAPIImport | None:
        return await self.session.get(OpenAPIImport, import_id, with_for_update=for_update)

    async def by_name(self, name: str) -> OpenAPIImport | None:
        return await self.session.scalar(select(OpenAPIImport).where(OpenAPIImport.name == name))

    async def approved_versions(self) -> list[tuple[str, datetime]]:
        """(name, updated_at) of every approved import: what a process's tool registry should hold."""
        statement = select(OpenAPIImport.name, OpenAPIImport.updated_at).where(OpenAPIImport.status == "approved")
        return [tuple(row) for row in (await self.session.execute(statement)).all()]  # type: ignore[misc]

    async def name_taken(self, name: str) -> bool:
        return await self.session.scalar(select(OpenAPIImport.id).where(OpenAPIImport.name == name)) is not None

    async def names_starting_with(self, prefix: str) -> set[str]:
        return set(await self.session.scalars(select(OpenAPIImport.name).where(OpenAPIImport.name.like(f"{prefix}%"))))

    async def lock_naming(self) -> None:
        """Until the transaction ends: held while a job picks a free name."""
        await self.session.execute(select(func.pg_advisory_xact_lock(_NAMING_LOCK)))

    async def add(self, row: OpenAPIImport) -> OpenAPIImport:
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete(self, row: OpenAPIImport) -> None:
        await self.session.delete(row)

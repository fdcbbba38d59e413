"""SQL for the tool sources registered at run time (`tool_sources`); MCP servers are the rows of kind `mcp`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.tools.models import ToolSourceRow


class ToolSourceRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get_mcp(self, name: str) -> ToolSourceRow | None:
        return await self.session.scalar(
            select(ToolSourceRow).where(ToolSourceRow.kind == "mcp", ToolSourceRow.name == name)
        )

    async def get(self, name: str) -> ToolSourceRow | None:
        """A source of any kind by name."""
        return await self.session.scalar(select(ToolSourceRow).where(ToolSourceRow.name == name))

    async def enabled_versions(self) -> list[tuple[str, str, datetime]]:
        """(name, kind, updated_at) of every enabled source: what a process's tool registry should hold."""
        statement = select(ToolSourceRow.name, ToolSourceRow.kind, ToolSourceRow.updated_at).where(
            ToolSourceRow.enabled
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]  # type: ignore[misc]

    async def list_mcp(self) -> Sequence[ToolSourceRow]:
        """Ordered by name."""
        statement = select(ToolSourceRow).where(ToolSourceRow.kind == "mcp").order_by(ToolSourceRow.name)
        return (await self.session.scalars(statement)).all()

    async def name_taken(self, name: str) -> bool:
        """By a source of any kind: names are unique across kinds."""
        return await self.session.scalar(select(ToolSourceRow.id).where(ToolSourceRow.name == name)) is not None

    async def add(self, row: ToolSourceRow) -> ToolSourceRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete(self, row: ToolSourceRow) -> None:
        await self.session.delete(row)

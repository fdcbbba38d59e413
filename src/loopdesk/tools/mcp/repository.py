"""SQL for the tool sources registered at run time (`tool_sources`); MCP servers are the rows of kind `mcp`."""

from __future__ import annotations

from collections.abc import Sequence

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

"""Approval policy (the seed's `tool_approval_config`): per tool a default row (user_id NULL) and
per-user overrides; without a row, the tool's own default (reads run, writes wait for a person)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.tools.base import ApprovalMode, ToolSpec
from loopdesk.tools.models import ToolPolicy


@dataclass(frozen=True)
class Effective:
    mode: ApprovalMode
    origin: str  # user | default | tool


async def effective_mode(session: AsyncSession, spec: ToolSpec, user_id: uuid.UUID | None) -> Effective:
    statement = select(ToolPolicy).where(ToolPolicy.tool_name == spec.name)
    if user_id is None:
        statement = statement.where(ToolPolicy.user_id.is_(None))
    else:
        statement = statement.where((ToolPolicy.user_id == user_id) | ToolPolicy.user_id.is_(None))
    rows = (await session.scalars(statement)).all()
    for row in rows:
        if row.user_id is not None:
            return Effective(row.mode, "user")  # type: ignore[arg-type]
    for row in rows:
        return Effective(row.mode, "default")  # type: ignore[arg-type]
    return Effective(spec.mode_without_policy, "tool")


async def policies_for(session: AsyncSession, tool: str) -> Sequence[ToolPolicy]:
    statement = select(ToolPolicy).where(ToolPolicy.tool_name == tool).order_by(ToolPolicy.user_id.nulls_first())
    return (await session.scalars(statement)).all()


async def set_policy(session: AsyncSession, tool: str, user_id: uuid.UUID | None, mode: ApprovalMode) -> ToolPolicy:
    now = datetime.now(UTC)
    where = "user_id IS NULL" if user_id is None else "user_id IS NOT NULL"
    elements = ["tool_name"] if user_id is None else ["tool_name", "user_id"]
    statement = (
        insert(ToolPolicy)
        .values(id=uuid.uuid4(), tool_name=tool, user_id=user_id, mode=mode, updated_at=now)
        .on_conflict_do_update(index_elements=elements, index_where=text(where), set_={"mode": mode, "updated_at": now})
        .returning(ToolPolicy)
    )
    return (await session.scalars(statement)).one()


async def remove_policy(session: AsyncSession, tool: str, user_id: uuid.UUID | None) -> bool:
    condition = ToolPolicy.user_id.is_(None) if user_id is None else ToolPolicy.user_id == user_id
    result = await session.execute(delete(ToolPolicy).where(ToolPolicy.tool_name == tool, condition))
    return bool(result.rowcount)

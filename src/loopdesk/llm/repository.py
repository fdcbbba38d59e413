"""SQL for model-call usage (`llm_usage`): a caller reads their own calls; staff and admins read everyone's,
or one user's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.llm.models import LLMUsage
from loopdesk.users.models import User


def _conditions(
    caller: User, user_id: uuid.UUID | None, run_id: uuid.UUID | None, thread_id: uuid.UUID | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if not caller.is_staff:
        conditions.append(LLMUsage.user_id == caller.id)
    elif user_id is not None:
        conditions.append(LLMUsage.user_id == user_id)
    if run_id is not None:
        conditions.append(LLMUsage.run_id == run_id)
    if thread_id is not None:
        conditions.append(LLMUsage.thread_id == thread_id)
    return conditions


class UsageRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, row: LLMUsage) -> None:
        """One model call's row, written with the caller's transaction."""
        self.session.add(row)

    async def search(
        self,
        caller: User,
        *,
        user_id: uuid.UUID | None,
        run_id: uuid.UUID | None,
        thread_id: uuid.UUID | None,
        limit: int,
    ) -> Sequence[LLMUsage]:
        """Newest first. `user_id` counts for staff and admins only."""
        statement = (
            select(LLMUsage)
            .where(*_conditions(caller, user_id, run_id, thread_id))
            .order_by(LLMUsage.created_at.desc(), LLMUsage.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def totals(
        self, caller: User, *, user_id: uuid.UUID | None, run_id: uuid.UUID | None, thread_id: uuid.UUID | None
    ) -> tuple[int, int, int, Decimal | None]:
        """Calls, input tokens, output tokens and cost (of the priced calls; None when none was) over every
        matching call."""
        statement = select(
            func.count(),
            func.coalesce(func.sum(LLMUsage.input_tokens), 0),
            func.coalesce(func.sum(LLMUsage.output_tokens), 0),
            func.sum(LLMUsage.cost_usd),
        ).where(*_conditions(caller, user_id, run_id, thread_id))
        calls, input_tokens, output_tokens, cost = (await self.session.execute(statement)).one()
        return calls, input_tokens, output_tokens, cost

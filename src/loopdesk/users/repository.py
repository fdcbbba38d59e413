"""SQL for users; every read a caller can reach goes through `readable_statement`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.users.models import SYSTEM_USER_ID, Role, User


def readable_statement(caller: User) -> Select[tuple[User]]:
    """Users the caller may see: staff and admins see everyone (but the system account), customers only
    themselves."""
    statement = select(User).where(User.id != SYSTEM_USER_ID)
    if not caller.is_staff:
        statement = statement.where(User.id == caller.id)
    return statement


class UserRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_readable(self, caller: User, user_id: uuid.UUID) -> User | None:
        return await self.session.scalar(readable_statement(caller).where(User.id == user_id))

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email.lower()))

    async def get_by_login(self, identifier: str) -> User | None:
        """By e-mail address when it has an `@`, else by username."""
        column = User.email if "@" in identifier else User.username
        return await self.session.scalar(select(User).where(column == identifier.strip().lower()))

    async def username_taken(self, username: str, *, except_id: uuid.UUID | None = None) -> bool:
        statement = select(User.id).where(User.username == username.lower())
        if except_id is not None:
            statement = statement.where(User.id != except_id)
        return await self.session.scalar(statement) is not None

    async def email_taken(self, email: str, *, except_id: uuid.UUID | None = None) -> bool:
        statement = select(User.id).where(User.email == email.lower())
        if except_id is not None:
            statement = statement.where(User.id != except_id)
        return await self.session.scalar(statement) is not None

    async def any_admin(self) -> bool:
        statement = select(User.id).where(User.role == Role.admin, User.id != SYSTEM_USER_ID).limit(1)
        return await self.session.scalar(statement) is not None

    async def staff_members(self) -> Sequence[User]:
        """Active staff and admins (people: the system account is not one)."""
        statement = select(User).where(
            User.role.in_((Role.staff, Role.admin)), User.is_active, User.id != SYSTEM_USER_ID
        )
        return (await self.session.scalars(statement.order_by(User.created_at))).all()

    async def other_active_admin_exists(self, user_id: uuid.UUID) -> bool:
        statement = (
            select(User.id)
            .where(User.role == Role.admin, User.is_active, User.id != user_id, User.id != SYSTEM_USER_ID)
            .limit(1)
        )
        return await self.session.scalar(statement) is not None

    async def list(
        self, caller: User, *, limit: int, offset: int, role: Role | None = None, query: str | None = None
    ) -> tuple[Sequence[User], int]:
        statement = readable_statement(caller)
        if role is not None:
            statement = statement.where(User.role == role)
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(User.email.ilike(pattern), User.display_name.ilike(pattern), User.username.ilike(pattern))
            )
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(statement.order_by(User.created_at, User.id).limit(limit).offset(offset))
        return rows.all(), total or 0

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def save(self, user: User) -> User:
        await self.session.flush()
        await self.session.refresh(user)
        return user

"""SQL for credentials: API keys (scoped to their owner) and revoked tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.models import ApiKey, RevokedToken
from loopdesk.users.models import User


class ApiKeyRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list_for(self, user_id: uuid.UUID) -> Sequence[ApiKey]:
        rows = await self.session.scalars(
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
        )
        return rows.all()

    async def get_for(self, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))

    async def get_with_user_by_prefix(self, prefix: str) -> tuple[ApiKey, User] | None:
        row = (
            await self.session.execute(
                select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.prefix == prefix)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        await self.session.refresh(key)
        return key


class RevokedTokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def user_if_token_live(self, user_id: uuid.UUID, jti: str) -> User | None:
        """The token's user, unless the token was revoked (one round trip)."""
        revoked = exists().where(RevokedToken.jti == jti)
        return await self.session.scalar(select(User).where(User.id == user_id, ~revoked))

    async def revoke(self, jti: str, user_id: uuid.UUID, expires_at: datetime) -> None:
        await self.session.execute(
            insert(RevokedToken)
            .values(jti=jti, user_id=user_id, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[RevokedToken.jti])
        )

    async def prune_expired(self) -> None:
        await self.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC)))

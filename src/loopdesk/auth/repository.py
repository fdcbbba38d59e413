"""SQL for credentials: API keys (scoped to their owner), revoked tokens, and the state of many
credentials at once (for re-checking open sockets and streams)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, bindparam, delete, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.models import ApiKey, RevokedToken
from loopdesk.core.plainread import EntityRead
from loopdesk.users.models import User

if TYPE_CHECKING:
    from loopdesk.auth.credentials import Credential


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


# Built once: a statement made per request costs more CPU (construction, cache key) than its round trip.
_USER_IF_TOKEN_LIVE = EntityRead(
    User,
    select(User).where(User.id == bindparam("user_id"), ~exists().where(RevokedToken.jti == bindparam("jti"))),
)


class RevokedTokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def user_if_token_live(self, user_id: uuid.UUID, jti: str) -> User | None:
        """The token's user, unless the token was revoked (one round trip, on every authenticated request)."""
        found = await _USER_IF_TOKEN_LIVE.first(self.session, {"user_id": user_id, "jti": jti})
        return None if found is None else found[0]

    async def revoke(self, jti: str, user_id: uuid.UUID, expires_at: datetime) -> None:
        await self.session.execute(
            insert(RevokedToken)
            .values(jti=jti, user_id=user_id, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[RevokedToken.jti])
        )

    async def prune_expired(self) -> None:
        await self.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC)))


@dataclass(frozen=True)
class CredentialState:
    """What the database says now about the user, API key and token a credential stands on."""

    user_active: bool  # False when the user is gone too
    tokens_valid_after: datetime | None
    key_live: bool  # the API key exists and is not revoked (True for credentials without one)
    key_expires_at: datetime | None
    token_revoked: bool

    def problem(self, *, issued_at: datetime | None, expires_at: datetime | None, now: datetime) -> str | None:
        """Why a credential on this state no longer holds (None: it holds). Authentication and the checks of
        what stays open on a credential (auth/credentials.py) both judge by this one rule."""
        if not self.user_active:
            return "account deactivated"
        if not self.key_live:
            return "api key revoked"
        if self.key_expires_at is not None and self.key_expires_at <= now:
            return "api key expired"
        if self.token_revoked:
            return "logged out"
        if issued_at is not None and self.tokens_valid_after is not None and issued_at < self.tokens_valid_after:
            return "password changed"
        if expires_at is not None and expires_at <= now:
            return "token expired"
        return None


class CredentialRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def states(self, credentials: Sequence[Credential]) -> list[CredentialState]:
        """The state of each credential, in order, in one query."""
        uuids = ARRAY(UUID(as_uuid=True))
        given = (
            func.unnest(
                bindparam("user_ids", [c.user_id for c in credentials], uuids),
                bindparam("key_ids", [c.api_key_id for c in credentials], uuids),
                bindparam("jtis", [c.jti for c in credentials], ARRAY(String)),
            )
            .table_valued("user_id", "api_key_id", "jti", with_ordinality="n")
            .render_derived()
        )
        rows = await self.session.execute(
            select(
                User.is_active,
                User.tokens_valid_after,
                given.c.api_key_id.is_(None) | (ApiKey.id.is_not(None) & ApiKey.revoked_at.is_(None)),
                ApiKey.expires_at,
                RevokedToken.jti.is_not(None),
            )
            .select_from(given)
            .outerjoin(User, User.id == given.c.user_id)
            .outerjoin(ApiKey, (ApiKey.id == given.c.api_key_id) & (ApiKey.user_id == given.c.user_id))
            .outerjoin(RevokedToken, RevokedToken.jti == given.c.jti)
            .order_by(given.c.n)
        )
        return [
            CredentialState(
                user_active=bool(active),
                tokens_valid_after=valid_after,
                key_live=bool(key_live),
                key_expires_at=key_expires_at,
                token_revoked=bool(token_revoked),
            )
            for active, valid_after, key_live, key_expires_at, token_revoked in rows
        ]

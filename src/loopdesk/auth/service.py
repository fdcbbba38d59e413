"""Logging in and out, token and API key authentication, API key management."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.attempts import PasswordAttempts, account_names
from loopdesk.auth.models import ApiKey
from loopdesk.auth.repository import ApiKeyRepository, CredentialState, RevokedTokenRepository
from loopdesk.auth.schemas import ApiKeyCreate, LoginRequest
from loopdesk.core.errors import InvalidCredentials, NotAuthenticated, NotFound
from loopdesk.core.security import (
    TokenClaims,
    ahash_password,
    api_secret_matches,
    averify_password,
    create_access_token,
    decode_access_token,
    generate_api_key,
    password_needs_rehash,
    split_api_key,
)
from loopdesk.core.settings import Settings
from loopdesk.users.models import User
from loopdesk.users.repository import UserRepository

log = structlog.get_logger("loopdesk.auth")

# last_used_at is written at most this often per key, so reads stay reads.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    user: User
    method: Literal["bearer", "cookie", "api_key"]
    claims: TokenClaims | None = None
    api_key_id: uuid.UUID | None = None


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.users = UserRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.revoked = RevokedTokenRepository(session)

    # -- login / logout ------------------------------------------------------------------------

    async def login(self, data: LoginRequest, *, attempts: PasswordAttempts) -> tuple[str, TokenClaims]:
        # Every attempt counts against the address; failures lock the account out for that address only,
        # and slow it down (never lock it) from everywhere.
        await attempts.check_address()
        await attempts.slow_down(data.identifier)
        user = await self.users.get_by_login(data.identifier)
        # One counter per account whichever name is used (e-mail or username).
        account = str(user.id) if user is not None else data.identifier
        await attempts.check_account(account)

        valid = await averify_password(user.password_hash if user else None, data.password)
        if user is None or not valid or not user.is_active:
            await attempts.failed(account, account_names(user) if user is not None else [data.identifier])
            log.info("auth.login_failed", reason="credentials" if user is None or not valid else "inactive")
            raise InvalidCredentials()

        if password_needs_rehash(user.password_hash):
            user.password_hash = await ahash_password(data.password)
        user.last_login_at = datetime.now(UTC)
        await self.session.flush()
        token, claims = create_access_token(
            user.id, key=self.settings.jwt_key, ttl=timedelta(minutes=self.settings.auth.jwt_ttl_minutes)
        )
        log.info("auth.login", user_id=str(user.id))
        return token, claims

    async def logout(self, principal: Principal) -> None:
        if principal.claims is not None:
            await self.revoked.revoke(principal.claims.jti, principal.user.id, principal.claims.expires_at)
            await self.revoked.prune_expired()
        log.info("auth.logout", user_id=str(principal.user.id), method=principal.method)

    # -- authentication ------------------------------------------------------------------------

    async def authenticate_token(self, token: str, method: Literal["bearer", "cookie"]) -> Principal:
        claims = decode_access_token(token, key=self.settings.jwt_key)
        if claims is None:
            raise NotAuthenticated("Invalid or expired token")
        user = await self.revoked.user_if_token_live(claims.user_id, claims.jti)
        if user is None or _state(user).problem(issued_at=claims.issued_at, expires_at=None, now=datetime.now(UTC)):
            raise NotAuthenticated("Invalid or expired token")
        return Principal(user=user, method=method, claims=claims)

    async def authenticate_api_key(self, token: str) -> Principal:
        parts = split_api_key(token)
        found = await self.api_keys.get_with_user_by_prefix(parts[0]) if parts else None
        if parts is None or found is None:
            raise NotAuthenticated("Invalid API key")
        key, user = found
        now = datetime.now(UTC)
        live = key.revoked_at is None
        if not api_secret_matches(parts[1], key.secret_hash) or _state(user, live, key.expires_at).problem(
            issued_at=None, expires_at=None, now=now
        ):
            raise NotAuthenticated("Invalid API key")
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
            key.last_used_at = now
            await self.session.flush()
        return Principal(user=user, method="api_key", api_key_id=key.id)

    # -- API keys ------------------------------------------------------------------------------

    async def create_api_key(self, user: User, data: ApiKeyCreate) -> tuple[ApiKey, str]:
        new = generate_api_key()
        expires_at = datetime.now(UTC) + timedelta(days=data.expires_in_days) if data.expires_in_days else None
        key = await self.api_keys.add(
            ApiKey(
                user_id=user.id, name=data.name, prefix=new.prefix, secret_hash=new.secret_hash, expires_at=expires_at
            )
        )
        log.info("auth.api_key_created", user_id=str(user.id), key_id=str(key.id))
        return key, new.token

    async def list_api_keys(self, user: User) -> Sequence[ApiKey]:
        return await self.api_keys.list_for(user.id)

    async def revoke_api_key(self, user: User, key_id: uuid.UUID) -> None:
        key = await self.api_keys.get_for(user.id, key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await self.session.flush()
        log.info("auth.api_key_revoked", user_id=str(user.id), key_id=str(key.id))


def _state(user: User, key_live: bool = True, key_expires_at: datetime | None = None) -> CredentialState:
    """The facts authentication has just read, judged by the same rule as the checks of open sockets."""
    return CredentialState(
        user_active=user.is_active,
        tokens_valid_after=user.tokens_valid_after,
        key_live=key_live,
        key_expires_at=key_expires_at,
        token_revoked=False,  # user_if_token_live found no revocation
    )

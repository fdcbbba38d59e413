"""Logging in and out, token and API key authentication, API key management."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.models import ApiKey
from loopdesk.auth.repository import ApiKeyRepository, RevokedTokenRepository
from loopdesk.auth.schemas import ApiKeyCreate, LoginRequest
from loopdesk.core.errors import InvalidCredentials, NotAuthenticated, NotFound, RateLimited
from loopdesk.core.ratelimit import RateLimiter, rate
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

    async def login(self, data: LoginRequest, *, client_ip: str, limiter: RateLimiter) -> tuple[str, TokenClaims]:
        account_limit = rate(self.settings.auth.login_limit_per_account)
        ip_limit = rate(self.settings.auth.login_limit_per_ip)
        # Every attempt counts against the address (bounding an attacker's argon2 cost); only failures
        # count against the account, so a user signing in from many devices is never locked out.
        await limiter.check(ip_limit, "login-ip", client_ip)
        user = await self.users.get_by_login(data.identifier)
        # One counter per account whichever name is used (e-mail or username).
        account = str(user.id) if user is not None else data.identifier
        wait = await limiter.retry_after(account_limit, "login-account", account)
        if wait is not None:
            raise RateLimited(wait, "Too many failed logins for this account; try again later")

        valid = await averify_password(user.password_hash if user else None, data.password)
        if user is None or not valid or not user.is_active:
            await limiter.hit(account_limit, "login-account", account)
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
        if user is None or not user.is_active:
            raise NotAuthenticated("Invalid or expired token")
        if user.tokens_valid_after is not None and claims.issued_at < user.tokens_valid_after:
            raise NotAuthenticated("Invalid or expired token")
        return Principal(user=user, method=method, claims=claims)

    async def authenticate_api_key(self, token: str) -> Principal:
        parts = split_api_key(token)
        found = await self.api_keys.get_with_user_by_prefix(parts[0]) if parts else None
        if parts is None or found is None:
            raise NotAuthenticated("Invalid API key")
        key, user = found
        now = datetime.now(UTC)
        if (
            not api_secret_matches(parts[1], key.secret_hash)
            or key.revoked_at is not None
            or (key.expires_at is not None and key.expires_at <= now)
            or not user.is_active
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

"""Credentials: argon2 password hashes, signed JWTs and API key secrets."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "ldk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def ahash_password(password: str) -> str:
    """hash_password off the event loop: argon2 costs ~0.15 s of CPU and releases the GIL."""
    return await asyncio.to_thread(hash_password, password)


async def averify_password(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    jti: str
    issued_at: datetime
    expires_at: datetime


def now_ms() -> datetime:
    """UTC now at millisecond resolution: the resolution of a token's `iat`, so the two compare exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def create_access_token(user_id: uuid.UUID, *, key: str, ttl: timedelta) -> tuple[str, TokenClaims]:
    # iat keeps milliseconds: "tokens issued before the password change" must hold within a second.
    now = now_ms()
    claims = TokenClaims(user_id=user_id, jti=secrets.token_hex(16), issued_at=now, expires_at=now + ttl)
    payload = {
        "sub": str(user_id),
        "jti": claims.jti,
        "iat": round(now.timestamp(), 3),
        "exp": int(claims.expires_at.timestamp()),
        "typ": "access",
    }
    return jwt.encode(payload, key, algorithm=JWT_ALGORITHM), claims


def decode_access_token(token: str, *, key: str) -> TokenClaims | None:
    """The claims of a valid, unexpired access token; None for anything else."""
    claims = _verified(token, key)
    if claims is None or claims.expires_at <= datetime.now(UTC):
        return None
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, key: str) -> TokenClaims | None:
    """A token's claims once its signature and form are checked: the same token on every request of a
    client is verified once (bounded; expiry is checked on each use, revocation by the caller)."""
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "jti", "iat", "exp"], "verify_exp": False},
        )
        if payload.get("typ") != "access":
            return None
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret_hash: str
    token: str  # shown to the user once


def generate_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(prefix=prefix, secret_hash=hash_api_secret(secret), token=f"{API_KEY_PREFIX}{prefix}_{secret}")


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret or len(secret) > 128:
        return None
    return prefix, secret


def api_secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_api_secret(secret), secret_hash)

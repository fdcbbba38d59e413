"""Is a credential still good? Asked again, after authentication, by what stays open on it: a WebSocket
before each frame that reads or starts something, and every open socket and stream periodically
(watch.py), so that revoking a key, deactivating a user, logging out or changing a password ends them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.repository import CredentialRepository, CredentialState
from loopdesk.auth.service import Principal
from loopdesk.core.errors import NotAuthenticated


@dataclass(frozen=True)
class Credential:
    """What a caller authenticated with: the user, and the API key or the token (jti and times), if any."""

    user_id: uuid.UUID
    api_key_id: uuid.UUID | None = None
    jti: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def of(cls, principal: Principal) -> Credential:
        claims = principal.claims
        if claims is None:
            return cls(principal.user.id, principal.api_key_id)
        return cls(principal.user.id, jti=claims.jti, issued_at=claims.issued_at, expires_at=claims.expires_at)


class CredentialRevoked(NotAuthenticated):
    code = "credential_revoked"

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"Access ended: {reason}", detail={"reason": reason})


class CredentialService:
    def __init__(self, session: AsyncSession):
        self.credentials = CredentialRepository(session)

    async def revoked(self, credentials: Sequence[Credential]) -> dict[Credential, str]:
        """The credentials that no longer hold, each with why (one query for all of them)."""
        if not credentials:
            return {}
        now = datetime.now(UTC)
        states = await self.credentials.states(credentials)
        reasons = {c: _reason(c, state, now) for c, state in zip(credentials, states, strict=True)}
        return {c: reason for c, reason in reasons.items() if reason is not None}

    async def ensure_live(self, credential: Credential) -> None:
        if reason := (await self.revoked([credential])).get(credential):
            raise CredentialRevoked(reason)


def _reason(credential: Credential, state: CredentialState, now: datetime) -> str | None:
    return state.problem(issued_at=credential.issued_at, expires_at=credential.expires_at, now=now)

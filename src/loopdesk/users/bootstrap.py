"""The first admin: from LOOPDESK_ADMIN_EMAIL / LOOPDESK_ADMIN_PASSWORD, or generated once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import text

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.users.service import UserService

DEFAULT_ADMIN_EMAIL = "admin@example.com"
_BOOTSTRAP_LOCK_KEY = int.from_bytes(b"ldadmin1", "big", signed=True)


@dataclass(frozen=True)
class CreatedAdmin:
    email: str
    generated_password: str | None  # set only when we made it up; shown once


async def bootstrap_admin(database: Database, settings: Settings) -> CreatedAdmin | None:
    """Create the first admin if there is no admin yet; safe when several processes start at once."""
    email = settings.auth.admin_email or DEFAULT_ADMIN_EMAIL
    configured = settings.auth.admin_password.get_secret_value() if settings.auth.admin_password else None
    password = configured or secrets.token_urlsafe(12)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK_KEY})
        user = await UserService(session).ensure_admin(email=email, password=password)
    if user is None:
        return None
    return CreatedAdmin(email=user.email, generated_password=None if configured else password)

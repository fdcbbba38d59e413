"""Every mapped table, imported in one place so Alembic sees the whole metadata."""

from loopdesk.auth.models import ApiKey, RevokedToken
from loopdesk.core.db import Base
from loopdesk.users.models import User

__all__ = ["ApiKey", "Base", "RevokedToken", "User"]

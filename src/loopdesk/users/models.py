from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from loopdesk.core.db import Base

# The account that owns the feedback workflow's threads (migration a3c1f9d27e10): it has no usable password,
# is not listed, read or changed through the users API, and does not count as an admin.
SYSTEM_USER_ID = uuid.UUID("00000000-0000-0000-0000-00000000f10b")


class Role(enum.StrEnum):
    admin = "admin"
    staff = "staff"
    customer = "customer"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'staff', 'customer')", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Optional, lower-cased like the e-mail (the seeds' `username`): log in with either.
    username: Mapped[str | None] = mapped_column(String(50), unique=True, default=None)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.customer.value)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # Tokens issued before this instant are refused (set on password change and "log out everywhere").
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.admin, Role.staff)

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, computed_field, model_validator

from loopdesk.core.schemas import DisplayName, Email, Password, Schema, Username
from loopdesk.users.models import Role


class UserCreate(Schema):
    email: Email
    password: Password
    display_name: DisplayName | None = Field(None, description="default: the username, else the e-mail's local part")
    username: Username | None = Field(None, description="optional; log in with it or with the e-mail")

    @model_validator(mode="after")
    def _default_display_name(self) -> UserCreate:
        if self.display_name is None:
            self.display_name = self.username or self.email.split("@", 1)[0]
        return self


class UserAdminCreate(UserCreate):
    """An account an admin opens, with its role from the start."""

    role: Role = Field(Role.customer, description="admin, staff or customer")


class UserRead(Schema):
    id: uuid.UUID
    email: str
    username: str | None
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @computed_field(description="the same as `id` (the seeds' name for it)")  # type: ignore[prop-decorator]
    @property
    def user_id(self) -> uuid.UUID:
        return self.id


class UserUpdate(Schema):
    """A user's own profile change; a new e-mail or password needs the current password."""

    display_name: DisplayName | None = None
    username: Username | None = None
    email: Email | None = None
    password: Password | None = Field(None, description="the new password")
    current_password: str | None = Field(None, max_length=256)

    @model_validator(mode="after")
    def _current_password_for_credentials(self) -> UserUpdate:
        if (self.email is not None or self.password is not None) and not self.current_password:
            raise ValueError("current_password is required to change email or password")
        return self


class UserAdminUpdate(Schema):
    display_name: DisplayName | None = None
    role: Role | None = None
    is_active: bool | None = None

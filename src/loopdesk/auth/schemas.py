from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from loopdesk.core.schemas import Schema


class LoginRequest(Schema):
    """E-mail or username, and the password. An `email` without `@` is read as a username."""

    email: str | None = Field(None, min_length=1, max_length=320)
    username: str | None = Field(None, min_length=1, max_length=320)
    password: str = Field(..., min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_identifier(self) -> LoginRequest:
        if not (self.email or self.username):
            raise ValueError("give `email` or `username`")
        return self

    @property
    def identifier(self) -> str:
        return (self.email or self.username or "").strip().lower()


class Token(Schema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(..., description="seconds until the token expires")


class ApiKeyCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="unset = never expires")


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(..., description="the secret; shown only in this response, send it as X-API-Key")

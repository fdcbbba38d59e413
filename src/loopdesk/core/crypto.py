"""Secrets at rest (API credentials of OpenAPI imports, MCP server env and headers): Fernet
(AES-128-CBC + HMAC-SHA256) under a key from LOOPDESK_SECRETS_KEY, else derived from the JWT key."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from loopdesk.core.settings import Settings


class SecretBoxError(Exception):
    """Stored secrets cannot be read: the key changed or the data is damaged."""


class SecretBox:
    def __init__(self, key_material: str):
        digest = hashlib.sha256(b"loopdesk-secrets:" + key_material.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        configured = settings.auth.secrets_key
        return cls(configured.get_secret_value() if configured else settings.jwt_key)

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(value))

    def open(self, token: bytes | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return orjson.loads(self._fernet.decrypt(token))
        except (InvalidToken, orjson.JSONDecodeError) as exc:
            raise SecretBoxError("stored secrets cannot be decrypted (was LOOPDESK_SECRETS_KEY changed?)") from exc

    def __repr__(self) -> str:
        return "SecretBox(***)"

"""The keys: the data dir's JWT key, the secrets key in force (LOOPDESK_SECRETS_KEY, else the JWT key), the
fingerprint a restore checks it by, where each key comes from and what the operator must keep with the archive."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from loopdesk.core.settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.database.data_dir / "jwt_secret"


def stored_key(settings: Settings) -> str | None:
    path = key_file(settings)
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def secrets_key_in_force(settings: Settings, data_dir_key: str | None) -> str | None:
    """What SecretBox.from_settings seals with: LOOPDESK_SECRETS_KEY, else the JWT key (LOOPDESK_JWT_SECRET, else
    the data dir's)."""
    if settings.auth.secrets_key is not None:
        return settings.auth.secrets_key.get_secret_value()
    if settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value():
        return settings.auth.jwt_secret.get_secret_value()
    return data_dir_key


def key_check(material: str | None) -> str | None:
    """A fingerprint of the secrets key: a restore can tell the key it will run with is the one that sealed
    the archive's credentials, without the archive holding a key that came from the environment."""
    if material is None:
        return None
    return hashlib.sha256(b"loopdesk-backup-key-check:" + material.encode()).hexdigest()[:16]


def write_private(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def key_sources(settings: Settings, jwt_key: str | None) -> dict[str, str]:
    jwt_from_env = settings.auth.jwt_secret is not None and bool(settings.auth.jwt_secret.get_secret_value())
    jwt = "environment" if jwt_from_env else ("archived" if jwt_key is not None else "absent")
    secrets = "environment" if settings.auth.secrets_key is not None else "jwt_secret"
    return {"jwt_secret": jwt, "secrets_key": secrets}


def key_notes(keys: dict[str, str]) -> list[str]:
    notes = []
    if keys["jwt_secret"] == "environment":
        notes.append("LOOPDESK_JWT_SECRET is set in the environment: it is not in the archive, keep it with it")
    if keys["secrets_key"] == "environment":
        notes.append(
            "LOOPDESK_SECRETS_KEY is set in the environment: it is not in the archive, keep it with it "
            "(the stored credentials cannot be decrypted without it)"
        )
    return notes

import subprocess
import sys

import psycopg
import pytest

from tests.conftest import _with_database
from tests.core.test_migrate import _fresh_database

COMMANDS = [[], ["serve"], ["migrate"], ["users"], ["users", "create-admin"]]


def _loopdesk(*args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loopdesk", *args], capture_output=True, text=True, env=env, input=input, timeout=120
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "loopdesk")
def test_every_command_has_help(command):
    result = _loopdesk(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_migrate_and_create_admin_against_an_external_database(pg_admin_url, tmp_path):
    import os

    url = _fresh_database(pg_admin_url)
    env = {**os.environ, "LOOPDESK_DATABASE_URL": url, "LOOPDESK_DATA_DIR": str(tmp_path)}
    migrated = _loopdesk("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stderr
    created = _loopdesk(
        "users", "create-admin", "--email", "Boss@Example.com", "--password", "boss-password-1", env=env
    )
    assert created.returncode == 0, created.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT role FROM users WHERE email = 'boss@example.com'").fetchone() == ("admin",)
    bad = _loopdesk("users", "create-admin", "--email", "nope", "--password", "short", env=env)
    assert bad.returncode == 2 and "email" in bad.stderr and "Traceback" not in bad.stderr


def test_a_configuration_error_is_reported_without_a_traceback(tmp_path):
    import os

    env = {**os.environ, "LOOPDESK_ENV": "production", "LOOPDESK_DATA_DIR": str(tmp_path)}
    env.pop("LOOPDESK_JWT_SECRET", None)
    result = _loopdesk("migrate", env=env)
    assert result.returncode == 2
    assert "LOOPDESK_JWT_SECRET" in result.stderr and "Traceback" not in result.stderr


__all__ = ["_with_database"]

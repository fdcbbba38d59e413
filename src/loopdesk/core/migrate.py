"""Schema set-up: Alembic for the app tables, LangGraph's own `setup()` for its saver and store, the task
queue's schema; all under one PostgreSQL advisory lock so that processes starting together never race."""

from __future__ import annotations

import time
from importlib.resources import files

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from loopdesk.core.db import sqlalchemy_url

log = structlog.get_logger("loopdesk.migrate")

# pg_advisory_lock key: the bytes of "loopdesk" read as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"loopdesk", "big", signed=True)


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Autogenerate filter: tables we do not model (LangGraph's checkpoints and store, the task queue's)
    are not ours to drop, nor are their indexes."""
    from loopdesk.core.models import Base

    if type_ == "table":
        return not (reflected and compare_to is None)
    table = getattr(obj, "table", None)
    return table is None or table.name in Base.metadata.tables


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("loopdesk") / "migrations"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def _setup_langgraph(url: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore

    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
    with PostgresStore.from_conn_string(url) as store:
        store.setup()


def _setup_queue(url: str) -> None:
    """The task queue's schema (procrastinate's own SQL), installed once. The version is pinned in
    pyproject; a procrastinate upgrade ships its migration files, applied by a new Alembic revision."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
            log.info("migrate.queue_schema_installed")


def run_migrations(url: str, *, revision: str = "head") -> None:
    """Bring the database at `url` (libpq form) to `revision`. Blocking; safe to call concurrently."""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
            _acquire(lock_conn)
            try:
                with engine.connect() as conn:
                    cfg = alembic_config(url)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    conn.commit()
                _setup_langgraph(url)
                _setup_queue(url)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    finally:
        engine.dispose()
    log.info("migrate.done", revision=revision)


def _acquire(lock_conn: Connection) -> None:
    # Polled rather than blocking: a waiter stuck inside pg_advisory_lock() holds a snapshot, and
    # LangGraph's CREATE INDEX CONCURRENTLY in the holder would wait for it forever.
    while not lock_conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}).scalar():
        time.sleep(0.1)


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            if exists is None:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()

"""Alembic environment: app tables only (LangGraph's saver and store own theirs)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from loopdesk.core.migrate import include_object
from loopdesk.core.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # loopdesk.core.migrate passes its locked connection
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from loopdesk.core.db import resolve_database_url, sqlalchemy_url
        from loopdesk.core.settings import Settings

        url = sqlalchemy_url(resolve_database_url(Settings.load()))
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `loopdesk migrate`")
run_migrations_online()

"""Database access: one async SQLAlchemy engine (psycopg 3) per process, the same code path for the
embedded server and an external one. The request (or the job) owns the transaction."""

from __future__ import annotations

import select
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from loopdesk.core.embedded import start_embedded_postgres
from loopdesk.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def libpq_url(url: str) -> str:
    """`postgres://`, `postgresql://` or `postgresql+driver://` → the plain form psycopg and LangGraph take."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"only PostgreSQL URLs are supported, got {parsed.drivername!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(libpq_url(url)).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def resolve_database_url(settings: Settings) -> str:
    """The libpq URL to use: the configured one, or the embedded server's (started if needed)."""
    if settings.database.database_url is not None:
        return libpq_url(settings.database.database_url.get_secret_value().replace("postgres://", "postgresql://", 1))
    return start_embedded_postgres(settings.database.data_dir, settings.database.embedded_db_name)


IDLE_CHECK_SECONDS = 2.0


def in_doubt(connection: psycopg.AsyncConnection, idle_seconds: float) -> bool:
    """Whether a pooled connection should be pinged before use: idle for a while, closed, or with bytes
    waiting on its socket while idle (the server's goodbye when it ended the session: a restart, a
    terminated backend). A busy pool pays one `select()` per checkout instead of a round trip."""
    if connection.closed or idle_seconds > IDLE_CHECK_SECONDS:
        return True
    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return bool(readable)


_returned_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection, float] = weakref.WeakKeyDictionary()


async def mark_returned(connection: psycopg.AsyncConnection) -> None:
    """A psycopg pool's `reset`: note when a connection came back, for `check_if_in_doubt`."""
    _returned_at[connection] = time.monotonic()


async def check_if_in_doubt(connection: psycopg.AsyncConnection) -> None:
    """A psycopg pool's `check` (with `reset=mark_returned`): a round trip only for connections in doubt; one
    that fails it is replaced by the pool."""
    if in_doubt(connection, time.monotonic() - _returned_at.get(connection, 0.0)):
        await AsyncConnectionPool.check_connection(connection)


def _ping_when_in_doubt(engine: AsyncEngine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for connections in doubt (it costs a round trip and two
    autocommit switches on every checkout, about 5 % of the API's CPU at 50 clients). A connection that
    fails its ping is replaced: the pool retries the checkout with a new one."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle = time.monotonic() - record.info.get("returned_at", 0.0)
        if not in_doubt(dbapi_connection.driver_connection, idle):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure: this connection is not to be used
            raise DisconnectionError(f"connection failed its ping: {type(exc).__name__}") from exc


def prepare_threshold(prepared: bool) -> int | None:
    """psycopg's `prepare_threshold`: prepare a query the fifth time a connection runs it (psycopg's default),
    or never (None), for a PgBouncer in transaction mode older than 1.21, which cannot route them."""
    return 5 if prepared else None


@dataclass
class Database:
    url: str  # libpq form
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10, prepared: bool = True) -> Database:
        """`prepared`: a statement a connection runs again is prepared on the server (parsed and planned once)."""
        engine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args={"prepare_threshold": prepare_threshold(prepared)},
        )
        _ping_when_in_doubt(engine)
        return cls(url=url, engine=engine, sessionmaker=async_sessionmaker(engine, expire_on_commit=False))

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    async with get_database(request).sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

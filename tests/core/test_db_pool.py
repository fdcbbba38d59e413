"""The pools hand out connections the server ended (a restart, a terminated backend) only after a ping,
and ping nothing else: a busy pool pays one `select()` per checkout, not a round trip."""

from __future__ import annotations

import asyncio

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from loopdesk.core.db import Database, in_doubt


def _terminate_backends(admin_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


async def test_a_connection_is_in_doubt_when_the_server_ended_it_and_not_before(pg_admin_url, database_url):
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        await conn.execute("SELECT 1")
        assert not in_doubt(conn, idle_seconds=0.0)
        assert in_doubt(conn, idle_seconds=10.0)  # idle for long: checked whatever its socket says
        _terminate_backends(pg_admin_url, database_url)
        for _ in range(50):  # the server's goodbye reaches the socket
            if in_doubt(conn, idle_seconds=0.0):
                break
            await asyncio.sleep(0.02)
        assert in_doubt(conn, idle_seconds=0.0)
    finally:
        await conn.close()


async def test_the_engine_replaces_connections_the_server_ended_at_once(pg_admin_url, database_url):
    database = Database.connect(database_url, pool_size=2, max_overflow=0)
    try:
        async with database.sessionmaker() as session:
            assert await session.scalar(text("SELECT 1")) == 1  # a connection now waits in the pool
        _terminate_backends(pg_admin_url, database_url)
        await asyncio.sleep(0.2)  # well within the idle limit: only its socket tells
        async with database.sessionmaker() as session:
            assert await session.scalar(text("SELECT 2")) == 2
    finally:
        await database.dispose()

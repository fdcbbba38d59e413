"""The queue's connections: no transaction of their own around each queue statement, no ping on every
checkout, yet a connection the server ended is replaced and the worker's LISTEN still works."""

from __future__ import annotations

import asyncio

from loopdesk.runtime.worker import queue_connector
from tests.core.test_db_pool import _terminate_backends


async def test_queue_statements_run_in_autocommit_with_the_prepared_statement_setting(database_url, settings):
    connector = queue_connector(database_url, settings)
    await connector.open_async()
    try:
        async with connector.pool.connection() as connection:
            assert connection.autocommit
            assert connection.prepare_threshold == 5
            await connection.execute("SELECT 1")
            assert connection.info.transaction_status.name == "IDLE"  # no BEGIN left open for a COMMIT
    finally:
        await connector.close_async()
    database = settings.database.model_copy(update={"db_prepared_statements": False})
    unprepared = settings.model_copy(update={"database": database})
    connector = queue_connector(database_url, unprepared)
    await connector.open_async()
    try:
        async with connector.pool.connection() as connection:
            assert connection.prepare_threshold is None
    finally:
        await connector.close_async()


async def test_a_queue_connection_the_server_ended_is_replaced_at_once(pg_admin_url, database_url, settings):
    connector = queue_connector(database_url, settings)
    await connector.open_async()
    try:
        assert (await connector.execute_query_one_async("SELECT 1 AS one"))["one"] == 1
        _terminate_backends(pg_admin_url, database_url)
        await asyncio.sleep(0.2)  # within the idle limit: only the socket tells
        assert (await connector.execute_query_one_async("SELECT 2 AS two"))["two"] == 2
    finally:
        await connector.close_async()


async def test_the_queue_listens_for_notifications(database_url, settings):
    connector = queue_connector(database_url, settings)
    await connector.open_async()
    heard: asyncio.Queue[str] = asyncio.Queue()

    async def on_notification(*, channel: str, payload: str) -> None:
        await heard.put(payload)

    listening = asyncio.create_task(connector.listen_notify(on_notification, ["loopdesk_test_channel"]))
    try:
        for _ in range(100):  # the LISTEN is in place once a NOTIFY arrives
            await connector.execute_query_async("NOTIFY loopdesk_test_channel, 'hello'")
            try:
                assert await asyncio.wait_for(heard.get(), 0.1) == "hello"
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("no notification heard")
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await connector.close_async()

"""A worker's liveness is reported from a thread: a busy event loop does not make it look dead; a hung one
does; a worker judged dead all the same registers again and goes on taking jobs."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
from asgi_lifespan import LifespanManager

from loopdesk.app import create_app
from loopdesk.runtime.heartbeat import Heartbeat
from tests.conftest import register_account


def _quick_stall(settings):  # noqa: ANN001, ANN202
    runtime = settings.runtime.model_copy(update={"stall_timeout_seconds": 3.0})
    return settings.model_copy(update={"runtime": runtime})


async def _workers(url: str) -> list[tuple[int, float]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT id, extract(epoch FROM now() - last_heartbeat)::float FROM procrastinate_workers ORDER BY id"
        )
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def _registered(url: str, *, other_than: int | None = None) -> int:
    for _ in range(200):
        ids = [worker_id for worker_id, _ in await _workers(url) if worker_id != other_than]
        if ids:
            return ids[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no worker registered")


async def test_a_worker_whose_loop_is_busy_longer_than_the_stall_timeout_still_reports_alive(settings, database_url):
    async with LifespanManager(create_app(_quick_stall(settings)), startup_timeout=30, shutdown_timeout=30):
        await _registered(database_url)
        time.sleep(4.0)  # noqa: ASYNC251 - the loop computes, never awaiting, longer than the 3 s stall timeout
        [(_, age)] = await _workers(database_url)
    assert age < 2.0, f"last heartbeat {age:.1f} s ago: the worker would be taken for dead"


async def test_a_hung_loop_stops_the_heartbeat(database_url):
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        worker_id = (await (await conn.execute("SELECT * FROM procrastinate_register_worker_v1()")).fetchone())[0]
    beat = Heartbeat(database_url, lambda: worker_id, interval=0.2, hang_seconds=0.5, on_lost=lambda: None)
    beat.start()
    try:
        await asyncio.sleep(0.6)
        assert beat.beats >= 1
        time.sleep(2.0)  # noqa: ASYNC251 - hung: the loop does not turn for four times the hang limit
        [(_, age)] = await _workers(database_url)
    finally:
        await beat.stop()
    assert age > 1.2, f"a hung loop still reported alive ({age:.1f} s ago)"


async def test_a_worker_judged_dead_registers_again_and_goes_on_taking_jobs(settings, database_url):
    application = create_app(_quick_stall(settings))
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        first = await _registered(database_url)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("DELETE FROM procrastinate_workers WHERE id = %s", (first,))  # pruned by a peer
        second = await _registered(database_url, other_than=first)
        assert second != first
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as http:
            account = await register_account(http, "beat")
            thread = (await http.post("/threads", json={}, headers=account.headers)).json()["thread_id"]
            body = {"assistant_id": "echo", "input": {"messages": ["hi"]}}
            answer = await http.post(f"/threads/{thread}/runs/wait", json=body, headers=account.headers)
            result = answer.json()
    assert result["messages"] == ["hi", "echo: hi"]


async def test_a_worker_that_stops_by_itself_is_started_again(settings, database_url):
    """procrastinate stops its worker when a side task fails (its LISTEN connection, on a PostgreSQL restart): that
    is not a stop anyone asked for, so the worker is started again and goes on taking jobs."""
    application = create_app(_quick_stall(settings))
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        first = await _registered(database_url)
        application.state.queue_worker.current.stop()  # as procrastinate does when its listener fails
        second = await _registered(database_url, other_than=first)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as http:
            account = await register_account(http, "again")
            body = {"assistant_id": "echo", "input": {"messages": ["hi"]}}
            answer = await http.post("/runs/wait", json=body, headers=account.headers)
    assert second != first
    assert answer.json()["messages"] == ["hi", "echo: hi"]

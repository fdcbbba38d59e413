"""Demo backend tests: each backend's app on a fresh SQLite file, called in process over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from loopdesk.support.demo import create_app

DemoClient = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def demo(tmp_path) -> AsyncIterator[DemoClient]:
    """`await demo("ecommerce")`: a client of that backend, seeded afresh for this test."""
    clients: list[httpx.AsyncClient] = []

    async def _open(name: str) -> httpx.AsyncClient:
        app = create_app(name, tmp_path / f"{name}.sqlite3")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")
        clients.append(client)
        return client

    yield _open
    for client in clients:
        await client.aclose()


async def audited(client: httpx.AsyncClient, operation: str) -> list[dict]:
    """The audit rows of `operation`, oldest first."""
    return [row for row in (await client.get("/_audit")).json() if row["operation"] == operation]

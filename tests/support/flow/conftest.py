"""The support application end to end: the e-commerce demo backend as a real HTTP server on 127.0.0.1, its template
applied through the real importer, customers chatting over the Agent Protocol with the offline model."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from loopdesk.core.settings import Settings
from loopdesk.support.demo.backends import create_app as create_backend
from loopdesk.support.templates.apply import apply_template, load_template, train_intents
from loopdesk.users.models import User
from tests.conftest import ADMIN_EMAIL, Account

TEMPLATE = "ecommerce"


@dataclass
class Backend:
    url: str
    db: Path

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, args)]

    def order(self, order_id: str) -> dict[str, Any]:
        return self.rows("SELECT * FROM orders WHERE id = ?", order_id)[0]


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory) -> Path:
    """Each template's intent model, trained once for the session (apply_template retrains only on change)."""
    root = tmp_path_factory.mktemp("intents")
    for name in ("ecommerce",):
        train_intents(load_template(name), root / name, lambda _: None)
    return root


@pytest.fixture
def settings(settings: Settings, trained_models: Path) -> Settings:
    settings.outbound.net_allowlist = "127.0.0.1"  # the demo backend of this test
    shutil.copytree(trained_models, settings.database.data_dir / "intents")
    return settings


@pytest.fixture
async def backend(tmp_path) -> AsyncIterator[Backend]:
    db = tmp_path / "shop.sqlite3"
    app = create_backend(TEMPLATE, db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Backend(f"http://127.0.0.1:{port}", db)
    server.should_exit = True
    await task


@pytest.fixture
async def shop(app, backend: Backend) -> Backend:
    """The template applied on the test's server: tools imported from the backend, agents in force."""
    state = app.state
    async with state.database.sessionmaker() as session:
        from sqlalchemy import select

        admin = await session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    await apply_template(TEMPLATE, runtime=state.tools, graphs=state.graphs, admin=admin, base_url=backend.url)
    return backend


async def say(client: httpx.AsyncClient, account: Account, thread: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/threads/{thread}/runs/wait",
        json={"assistant_id": "support", "input": {"messages": [{"role": "user", "content": text}]}},
        headers=account.headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def new_thread(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/threads", json={}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["thread_id"]


async def settle(client: httpx.AsyncClient, account: Account, thread: str) -> dict[str, Any]:
    for _ in range(600):
        state = (await client.get(f"/threads/{thread}", headers=account.headers)).json()
        if state["status"] != "busy":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"thread {thread} still busy")


def replies(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in values.get("messages", []) if m.get("type") == "ai" and m.get("content")]


def tool_calls(values: dict[str, Any]) -> list[str]:
    return [c["name"] for m in values.get("messages", []) if m.get("type") == "ai" for c in m.get("tool_calls") or []]

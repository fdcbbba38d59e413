"""Access ends everywhere at once: a WebSocket outlives neither its API key nor its token nor its
account. The socket lives on a second API process (same database, nothing shared in memory) while the
revocation is made through the first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed

from loopdesk.app import create_app
from loopdesk.core.settings import Settings
from loopdesk.realtime.gateway import websocket_options
from loopdesk.runtime.runs.models import Run
from tests.conftest import Account
from tests.realtime.wsclient import WS


@pytest.fixture
def settings(settings):
    """A short re-check interval: ended access shows well inside the deadline, and the suite waits less."""
    settings.auth.credential_check_seconds = 0.2
    return settings


CLOSE_WITHIN = 5.0


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[str]:
    """A second API process on the test's database, behind a real server: the URL sockets connect to."""
    own = settings.model_copy(deep=True)
    own.runtime.worker = False  # the first process runs the queue
    application = create_app(own)
    async with LifespanManager(application, startup_timeout=30):
        config = uvicorn.Config(
            application, host="127.0.0.1", port=0, lifespan="off", log_config=None, **websocket_options(own.realtime)
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        server.should_exit = True
        await task


@dataclass
class Case:
    """How a socket was opened (`key`: with an API key, else the account's JWT), how its access ends,
    and the close reason expected."""

    name: str
    key: bool
    reason: str


async def _api_key(client: httpx.AsyncClient, account: Account) -> tuple[str, str]:
    created = await client.post("/api/v1/api-keys", json={"name": "socket"}, headers=account.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]


async def _end_access(client: httpx.AsyncClient, case: Case, account: Account, key_id: str, admin: Account) -> None:
    if case.name == "revoke key":
        response = await client.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers)
    elif case.name == "deactivate":
        response = await client.patch(f"/api/v1/users/{account.id}", json={"is_active": False}, headers=admin.headers)
    elif case.name == "logout":
        response = await client.post("/api/v1/auth/logout", headers=account.headers)
    else:
        new = {"password": "a brand new passphrase", "current_password": account.password}
        response = await client.patch("/api/v1/users/me", json=new, headers=account.headers)
    assert response.status_code in (200, 204), response.text


CASES = [
    Case("revoke key", key=True, reason="api key revoked"),
    Case("deactivate", key=True, reason="account deactivated"),
    Case("deactivate", key=False, reason="account deactivated"),
    Case("logout", key=False, reason="logged out"),
    Case("password change", key=False, reason="password changed"),
]
IDS = [f"{c.name}-{'key' if c.key else 'jwt'}" for c in CASES]


async def _closed(ws: WS, within: float = CLOSE_WITHIN) -> ConnectionClosed:
    """The close the server sends within `within` seconds (frames before it are skipped)."""
    deadline = asyncio.get_running_loop().time() + within
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            await ws.recv(within=left)
        except ConnectionClosed as closed:
            return closed
        except TimeoutError:
            break
    raise AssertionError(f"the socket was still open {within} s after access ended")


async def _runs_on(app, thread_id: str) -> int:
    async with app.state.database.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Run).where(Run.thread_id == uuid.UUID(thread_id)))


@pytest.fixture
def open_socket(client, make_account, other_process) -> Callable[[Case], Awaitable[tuple[WS, Account, str, str]]]:
    """`await open_socket(case)`: (socket on the other process, its account, the key id, a thread)."""

    async def _open(case: Case) -> tuple[WS, Account, str, str]:
        account = await make_account("watched")
        key_id, key = await _api_key(client, account)
        thread = await client.post("/threads", json={"metadata": {"assistant_id": "chat"}}, headers=account.headers)
        assert thread.status_code == 200, thread.text
        ws = await WS.open(other_process, key if case.key else account.token)
        assert (await ws.request({"type": "ping"}))["type"] == "pong"
        return ws, account, key_id, thread.json()["thread_id"]

    return _open


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_socket_closes_with_4401_and_the_reason(client, admin, open_socket, case):
    ws, account, key_id, _ = await open_socket(case)
    await _end_access(client, case, account, key_id, admin)
    closed = await _closed(ws)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4401, case.reason)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_message_sent_right_after_starts_no_run(app, client, admin, open_socket, case):
    ws, account, key_id, thread_id = await open_socket(case)
    await _end_access(client, case, account, key_id, admin)
    try:
        reply = await ws.request({"type": "message", "thread_id": thread_id, "content": "refund me"})
    except ConnectionClosed:  # the periodic check got there first
        pass
    else:
        assert reply["type"] == "error" and reply["code"] == "credential_revoked", reply
        assert reply["detail"] == {"reason": case.reason}
        closed = await _closed(ws)
        assert closed.rcvd is not None and closed.rcvd.code == 4401
    assert await _runs_on(app, thread_id) == 0


async def test_without_the_periodic_check_the_frame_check_alone_refuses(app, client, make_account, server_url):
    await app.state.credential_watch.stop()
    account = await make_account("frames")
    key_id, key = await _api_key(client, account)
    ws = await WS.open(server_url, key)
    assert (await ws.request({"type": "ping"}))["type"] == "pong"
    assert (await client.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers)).status_code == 204
    reply = await ws.request({"type": "message", "content": "start something"})
    assert reply["type"] == "error" and reply["code"] == "credential_revoked", reply
    closed = await _closed(ws)
    assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (4401, "api key revoked")
    async with app.state.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 0


async def test_other_credentials_of_the_same_user_keep_their_sockets(client, make_account, other_process):
    account = await make_account("two-keys")
    revoked_id, revoked = await _api_key(client, account)
    _, kept = await _api_key(client, account)
    doomed, survivor = await WS.open(other_process, revoked), await WS.open(other_process, kept)
    by_token = await WS.open(other_process, account.token)
    assert (await client.delete(f"/api/v1/api-keys/{revoked_id}", headers=account.headers)).status_code == 204
    assert (await _closed(doomed)).rcvd.code == 4401
    for ws in (survivor, by_token):
        assert (await ws.request({"type": "ping"}))["type"] == "pong"
        await ws.close()

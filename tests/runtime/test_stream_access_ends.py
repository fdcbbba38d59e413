"""Access ends everywhere at once: a run's SSE stream (or a wait for its outcome) outlives neither the
API key nor the token nor the account it was opened with, though the run goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Account


@pytest.fixture
def settings(settings):
    """A short re-check interval: ended access shows well inside the deadline, and the suite waits less."""
    settings.auth.credential_check_seconds = 0.2
    return settings


CLOSE_WITHIN = 5.0
LONG_RUN = {"assistant_id": "slow", "input": {"steps": [], "delay": 30}}


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server: the in-process transport does not stream responses."""
    async with httpx.AsyncClient(base_url=server_url, timeout=30) as client:
        yield client


async def _api_key(http: httpx.AsyncClient, account: Account) -> tuple[str, dict[str, str]]:
    created = await http.post("/api/v1/api-keys", json={"name": "stream"}, headers=account.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], {"X-API-Key": created.json()["key"]}


async def _thread(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await http.post("/threads", json={}, headers=headers)
    assert created.status_code == 200, created.text
    return created.json()["thread_id"]


async def _next_event(lines: AsyncIterator[str]) -> tuple[str, str] | None:
    """(event, data) of the next SSE event (comments skipped), None once the stream ends."""
    name, data = None, ""
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and name is not None:
            return name, data
    return None


async def _rest(lines: AsyncIterator[str]) -> list[tuple[str, str]]:
    """The events left, failing unless the stream ends within CLOSE_WITHIN seconds."""
    events = []
    async with asyncio.timeout(CLOSE_WITHIN):
        while (event := await _next_event(lines)) is not None:
            events.append(event)
    return events


async def _stop(http: httpx.AsyncClient, headers: dict[str, str], run_path: str) -> None:
    """Cancel the long run and wait until it has stopped (the app's shutdown would wait for it)."""
    cancelled = await http.post(f"{run_path}/cancel", params={"wait": True}, headers=headers)
    assert cancelled.status_code == 200, cancelled.text


def _ended_with(events: list[tuple[str, str]], reason: str) -> None:
    names = [name for name, _ in events]
    assert "end" not in names, events
    assert names[-1] == "error", events
    assert json.loads(events[-1][1]) == {"error": "CredentialRevoked", "message": f"Access ended: {reason}"}


async def test_a_run_stream_ends_when_its_api_key_is_revoked(http, make_account):
    account = await make_account("streamer")
    key_id, key = await _api_key(http, account)
    thread_id = await _thread(http, key)
    async with http.stream("POST", f"/threads/{thread_id}/runs/stream", json=LONG_RUN, headers=key) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        first = await _next_event(lines)
        assert first is not None and first[0] == "metadata"
        assert (await http.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers)).status_code == 204
        _ended_with(await _rest(lines), "api key revoked")
    run_path = f"/threads/{thread_id}/runs/{json.loads(first[1])['run_id']}"
    run = await http.get(run_path, headers=account.headers)
    assert run.json()["status"] in ("pending", "running")  # only the stream ended
    await _stop(http, account.headers, run_path)


async def test_a_join_stream_ends_when_its_token_logs_out(http, make_account):
    account = await make_account("joiner")
    _, key = await _api_key(http, account)
    thread_id = await _thread(http, account.headers)
    run = await http.post(f"/threads/{thread_id}/runs", json=LONG_RUN, headers=account.headers)
    assert run.status_code == 200, run.text
    run_path = f"/threads/{thread_id}/runs/{run.json()['run_id']}"
    async with http.stream("GET", f"{run_path}/stream", headers=account.headers) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        first = await _next_event(lines)
        assert first is not None and first[0] == "metadata"
        assert (await http.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
        _ended_with(await _rest(lines), "logged out")
    await _stop(http, key, run_path)


async def test_a_wait_answers_with_the_error_when_the_account_is_deactivated(http, make_account, admin):
    account = await make_account("waiter")
    _, key = await _api_key(http, account)
    thread_id = await _thread(http, key)
    async with http.stream("POST", f"/threads/{thread_id}/runs/wait", json=LONG_RUN, headers=key) as response:
        assert response.status_code == 200  # the run is under way
        run_path = response.headers["Content-Location"]
        chunks = response.aiter_bytes()
        deactivated = await http.patch(f"/api/v1/users/{account.id}", json={"is_active": False}, headers=admin.headers)
        assert deactivated.status_code == 200, deactivated.text
        async with asyncio.timeout(CLOSE_WITHIN):
            body = b"".join([chunk async for chunk in chunks])
    await _stop(http, admin.headers, run_path)
    assert json.loads(body) == {
        "error": {
            "code": "credential_revoked",
            "message": "Access ended: account deactivated",
            "detail": {"reason": "account deactivated"},
        }
    }

"""Access ends everywhere at once: a session's SSE stream outlives neither the API key nor the token
it was opened with."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.conftest import Account
from tests.sessions.conftest import new_session


@pytest.fixture
def settings(settings):
    """A short re-check interval: ended access shows well inside the deadline, and the suite waits less."""
    settings.auth.credential_check_seconds = 0.2
    return settings


CLOSE_WITHIN = 5.0


async def _key_headers(http: httpx.AsyncClient, account: Account) -> tuple[str, dict[str, str]]:
    created = await http.post("/api/v1/api-keys", json={"name": "sse"}, headers=account.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], {"X-API-Key": created.json()["key"]}


async def _revoke_key(http: httpx.AsyncClient, account: Account, key_id: str) -> None:
    assert (await http.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers)).status_code == 204


async def _change_password(http: httpx.AsyncClient, account: Account, _: str) -> None:
    new = {"password": "another long passphrase", "current_password": account.password}
    assert (await http.patch("/api/v1/users/me", json=new, headers=account.headers)).status_code == 200


@pytest.mark.parametrize(
    ("by_key", "end_access", "reason"),
    [(True, _revoke_key, "api key revoked"), (False, _change_password, "password changed")],
    ids=["revoke key", "password change"],
)
async def test_a_followed_session_stream_ends_with_an_error_frame(http, make_account, by_key, end_access, reason):
    account = await make_account("follower")
    key_id, key = await _key_headers(http, account)
    headers = key if by_key else account.headers
    session = await new_session(http, headers)
    path = f"/api/v1/sessions/{session['session_id']}/stream?follow=true"  # never ends by itself
    async with http.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        await end_access(http, account, key_id)
        async with asyncio.timeout(CLOSE_WITHIN):
            data = [line.removeprefix("data: ") async for line in lines if line.startswith("data: ")]
    assert json.loads(data[-1]) == {
        "type": "error",
        "code": "credential_revoked",
        "message": f"Access ended: {reason}",
        "detail": {"reason": reason},
    }

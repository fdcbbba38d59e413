"""Session tests: a real uvicorn server, the shop plugin's tools, approvals swept every second."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from loopdesk.core.settings import Settings
from tests.tools.conftest import PLUGINS


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.tools.plugins_dir = PLUGINS
    settings.tools.approval_sweep_seconds = 1
    settings.runtime.heartbeat_seconds = 1.0
    return settings


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server (over TCP, not in-process)."""
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as client:
        yield client


async def new_session(http: httpx.AsyncClient, headers: dict[str, str], **fields) -> dict:
    response = await http.post("/api/v1/sessions", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def execute(http: httpx.AsyncClient, headers: dict[str, str], session_id: str, message: str, **extra):
    return await http.post(
        f"/api/v1/sessions/{session_id}/execute", json={"message": message, **extra}, headers=headers
    )

"""CORS for browser clients on another origin (agent-chat-ui, the JS SDK): the Agent Protocol and
/api/v1 routes answer preflights for the headers those clients send, and expose the run headers."""

from __future__ import annotations

import pytest

from loopdesk.core.settings import DEV_CORS_ORIGINS, ServerSettings

ORIGIN = "https://chat.example.com"


@pytest.fixture
def settings(settings):
    settings.server.cors_origins = [ORIGIN]
    return settings


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,x-api-key,content-type,last-event-id",
    }


@pytest.mark.parametrize(
    "path", ["/threads/00000000-0000-0000-0000-000000000001/runs/stream", "/runs/wait", "/api/v1/sessions"]
)
async def test_preflights_from_an_allowed_origin_allow_the_sdk_headers(client, path):
    response = await client.options(path, headers=_preflight(ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "content-type", "last-event-id"} <= allowed


async def test_other_origins_get_no_cors_headers(client, make_account):
    refused = await client.options("/threads", headers=_preflight("https://evil.example.net"))
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    account = await make_account("cors")
    read = await client.post("/threads", json={}, headers={**account.headers, "Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in read.headers


async def test_run_ids_are_readable_across_origins(client, make_account):
    account = await make_account("cors")
    headers = {**account.headers, "Origin": ORIGIN}
    thread = (await client.post("/threads", json={}, headers=headers)).json()["thread_id"]
    run = await client.post(f"/threads/{thread}/runs", json={"assistant_id": "chat"}, headers=headers)
    assert run.status_code == 200, run.text
    assert run.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in run.headers["access-control-expose-headers"].split(",")}
    assert {"content-location", "location", "retry-after", "x-pagination-next"} <= exposed
    assert run.headers["content-location"].endswith(run.json()["run_id"])


async def test_errors_carry_the_cors_headers_too(client):
    response = await client.get("/api/v1/sessions", headers={"Origin": ORIGIN})
    assert response.status_code == 401 and response.headers["access-control-allow-origin"] == ORIGIN


def test_origins_default_to_none_in_production_and_local_front_ends_in_development(monkeypatch):
    monkeypatch.delenv("LOOPDESK_CORS_ORIGINS", raising=False)
    assert ServerSettings(env="production", _env_file=None).allowed_origins == []
    assert ServerSettings(env="test", _env_file=None).allowed_origins == []
    assert ServerSettings(env="development", _env_file=None).allowed_origins == list(DEV_CORS_ORIGINS)
    monkeypatch.setenv("LOOPDESK_CORS_ORIGINS", "https://a.example.com, https://b.example.com:8443/")
    parsed = ServerSettings(env="production", _env_file=None).allowed_origins
    assert parsed == ["https://a.example.com", "https://b.example.com:8443"]
    monkeypatch.setenv("LOOPDESK_CORS_ORIGINS", '["https://c.example.com"]')
    assert ServerSettings(_env_file=None).allowed_origins == ["https://c.example.com"]
    monkeypatch.setenv("LOOPDESK_CORS_ORIGINS", "")
    assert ServerSettings(env="development", _env_file=None).allowed_origins == []
    monkeypatch.setenv("LOOPDESK_CORS_ORIGINS", "https://a.example.com/app")
    with pytest.raises(ValueError, match="without a path"):
        ServerSettings(_env_file=None)

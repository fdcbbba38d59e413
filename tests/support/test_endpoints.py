"""`/api/v1/support`: the staff inbox read by several statuses at once and by conversation, and the configured models
as staff may read them (never a key, never what a URL hides); customers are refused both."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import assert_error

SECRET_KEY = "sk-live-do-not-show-0123456789"
SECRET_PASSWORD = "hunter2-in-the-url"


async def _thread(client, account) -> str:
    response = await client.post("/threads", json={}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["thread_id"]


async def _escalated(client, account) -> tuple[str, str]:
    """A new conversation of `account`, handed to people: (thread id, escalation id)."""
    thread = await _thread(client, account)
    escalated = await client.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=account.headers)
    assert escalated.status_code == 200, escalated.text
    return thread, escalated.json()["id"]


@pytest.fixture
async def desk(client, make_account):
    """Three escalated conversations of one customer: one waiting, one taken by staff, one closed."""
    customer, staff = await make_account("cust"), await make_account("desk", role="staff")
    waiting, taken, closed = [await _escalated(client, customer) for _ in range(3)]
    took = await client.post(f"/api/v1/support/escalations/{taken[1]}/take", headers=staff.headers)
    assert took.status_code == 200, took.text
    await client.post(f"/api/v1/support/escalations/{closed[1]}/take", headers=staff.headers)
    done = await client.post(
        f"/api/v1/support/escalations/{closed[1]}/release", json={"close": True}, headers=staff.headers
    )
    assert done.json()["status"] == "closed", done.text
    return {"customer": customer, "staff": staff, "waiting": waiting, "taken": taken, "closed": closed}


async def _inbox(client, account, **params) -> dict:
    response = await client.get("/api/v1/support/inbox", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page: dict) -> set[str]:
    return {item["id"] for item in page["items"]}


async def test_the_inbox_reads_several_statuses_in_one_call(client, desk):
    staff, waiting, taken, closed = desk["staff"], desk["waiting"][1], desk["taken"][1], desk["closed"][1]
    assert _ids(await _inbox(client, staff)) == {waiting}  # no status: the open ones, as before
    live = await _inbox(client, staff, status=["open", "taken"])
    assert _ids(live) == {waiting, taken} and live["total"] == 2
    assert _ids(await _inbox(client, staff, status="closed")) == {closed}
    everything = await _inbox(client, staff, status="any")
    assert _ids(everything) == {waiting, taken, closed} and everything["total"] == 3
    assert _ids(await _inbox(client, staff, status=["any", "open"])) == {waiting, taken, closed}
    assert _ids(await _inbox(client, staff, status=["taken"], mine=True)) == {taken}
    paged = await _inbox(client, staff, status="any", limit=2)
    assert (len(paged["items"]), paged["total"]) == (2, 3)
    wrong = await client.get("/api/v1/support/inbox", params={"status": "pending"}, headers=staff.headers)
    assert_error(wrong, 422, "validation_error")


async def test_the_inbox_finds_one_conversations_escalation(client, desk):
    staff = desk["staff"]
    (taken_thread, taken), (closed_thread, closed) = desk["taken"], desk["closed"]
    found = await _inbox(client, staff, thread_id=taken_thread, status=["open", "taken"])
    assert [(e["id"], e["thread_id"], e["status"]) for e in found["items"]] == [(taken, taken_thread, "taken")]
    assert (await _inbox(client, staff, thread_id=closed_thread, status=["open", "taken"]))["items"] == []
    history = await _inbox(client, staff, thread_id=closed_thread, status="any")
    assert [(e["id"], e["status"]) for e in history["items"]] == [(closed, "closed")]
    assert (await _inbox(client, staff, thread_id=str(uuid.uuid4()), status="any"))["total"] == 0
    bad = await client.get("/api/v1/support/inbox", params={"thread_id": "nope"}, headers=staff.headers)
    assert_error(bad, 422, "validation_error")


async def test_customers_are_refused_the_inbox_even_for_their_own_conversation(client, desk):
    customer, (thread, _) = desk["customer"], desk["waiting"]
    asked = {"thread_id": thread, "status": ["open", "taken"]}
    assert_error(await client.get("/api/v1/support/inbox", params=asked, headers=customer.headers), 403, "forbidden")
    assert_error(await client.get("/api/v1/support/inbox", params=asked), 401)


@pytest.fixture
def settings(settings, monkeypatch):
    monkeypatch.setenv("MATRIX_DESK_KEY", SECRET_KEY)
    for variable in ("OPENAI_API_KEY", "VLLM_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    settings.llm.llm_models = {
        "fast": {"provider": "openai", "model": "gpt-4o-mini", "api_key_env": "MATRIX_DESK_KEY"},
        "local": {
            "provider": "vllm",
            "model": "qwen2.5",
            "base_url": f"http://desk:{SECRET_PASSWORD}@10.0.0.7:8001/v1/{SECRET_PASSWORD}?token={SECRET_PASSWORD}",
        },
        "broken": {"provider": "nonsense", "model": "x"},
    }
    return settings


async def test_staff_read_the_configured_models_without_their_secrets(client, make_account, admin):
    staff = await make_account("desk", role="staff")
    for account in (staff, admin):
        response = await client.get("/api/v1/support/models", headers=account.headers)
        assert response.status_code == 200, response.text
        assert SECRET_KEY not in response.text and SECRET_PASSWORD not in response.text
    body = response.json()
    assert body["default"] == {
        "name": None,
        "provider": "offline",
        "model": "offline",
        "endpoint": None,
        "api_key_configured": None,
        "problem": None,
    }
    named = {m["name"]: m for m in body["named"]}
    assert list(named) == ["broken", "fast", "local"]
    assert (named["fast"]["provider"], named["fast"]["model"], named["fast"]["api_key_configured"]) == (
        "openai",
        "gpt-4o-mini",
        True,
    )
    assert named["local"]["endpoint"] == "http://10.0.0.7:8001"  # the host only: no user, password, path, query
    assert named["local"]["api_key_configured"] is False and named["local"]["problem"] is None
    assert named["broken"]["provider"] == "nonsense" and "unknown model provider" in named["broken"]["problem"]


async def test_customers_are_refused_the_models(client, make_account):
    customer = await make_account("cust")
    assert_error(await client.get("/api/v1/support/models", headers=customer.headers), 403, "forbidden")
    assert_error(await client.get("/api/v1/support/models"), 401)

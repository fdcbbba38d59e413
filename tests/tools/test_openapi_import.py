"""OpenAPI import over the API against a real shop API on 127.0.0.1 (allow-listed), imported from its
own /openapi.json: review, edit, approve, and the tools are live for the assistant at once. Broken or
hostile documents fail the job with the reason and add no tool."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from tests.conftest import assert_error
from tests.receiver import receiver
from tests.tools.agents import make_agent, say, settle, start_thread, tool_messages
from tests.tools.openapi.shop_api import serve_shop

API_KEY = "shop-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def shop():
    with serve_shop(API_KEY) as running:
        yield running


@pytest.fixture
def settings(settings, shop):
    settings.outbound.net_allowlist = "127.0.0.1"  # the shop and the receiver; 127.0.0.2 stays refused
    return settings


async def _job(client, admin, body: dict) -> dict:
    response = await client.post("/api/v1/openapi/import", json=body, headers=admin.headers)
    assert response.status_code == 202, response.text
    job = response.json()
    for _ in range(300):
        job = (await client.get(f"/api/v1/openapi/jobs/{job['id']}", headers=admin.headers)).json()
        if job["status"] != "queued":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"import still queued: {job}")


async def _tool_names(client, headers) -> set[str]:
    return {t["name"] for t in (await client.get("/api/v1/tools", headers=headers)).json() if t["source"] == "openapi"}


async def test_import_review_approve_and_the_agent_uses_the_api(client, admin, make_account, shop):
    customer = await make_account("shopper")
    turns = [
        {"tool_calls": [{"name": "create_order", "args": {"body": {"item": "lamp", "quantity": 2}}}]},
        {"tool_calls": [{"name": "get_order", "args": {"order_id": 1}}]},
        {"content": "Your lamp order is open."},
    ]
    assistant = await make_agent(client, admin.headers, turns, tools=["calculator"])
    job = await _job(
        client,
        admin,
        {
            "name": "shop",
            "url": f"{shop.url}/openapi.json",
            "credentials": {"kind": "header", "name": "X-API-Key", "value": API_KEY},
            "assistant_ids": [assistant],
        },
    )
    assert job["status"] == "review", job
    assert job["has_credentials"] and API_KEY not in json.dumps(job)
    assert job["base_url"] == shop.url and job["spec_version"].startswith("3.")

    items = {c["tool_name"]: c for c in (await client.get(f"/api/v1/openapi/jobs/{job['id']}/classifications",
                                                         headers=admin.headers)).json()}  # fmt: skip
    assert {"index", "method", "path", "operation_id", "tool_name", "description", "side_effect", "enabled"} <= set(
        items["get_order"]
    )
    assert items["get_order"]["side_effect"] == "read" and items["get_order"]["method"] == "GET"
    assert items["create_order"]["side_effect"] == "write"
    assert items["delete_order"]["side_effect"] == "destructive"
    assert items["search_orders"]["side_effect"] == "read"  # a POST that only queries
    assert await _tool_names(client, admin.headers) == set()  # nothing is live before approval

    # The reviewer hides deletion and lets order creation run without asking.
    index = items["delete_order"]["index"]
    edited = await client.patch(
        f"/api/v1/openapi/jobs/{job['id']}/classifications/{index}", json={"enabled": False}, headers=admin.headers
    )
    assert edited.status_code == 200 and edited.json()["enabled"] is False
    index = items["create_order"]["index"]
    edited = await client.patch(
        f"/api/v1/openapi/jobs/{job['id']}/classifications/{index}",
        json={"side_effect": "read", "description": "Place an order for the customer"},
        headers=admin.headers,
    )
    assert edited.json()["side_effect"] == "read" and edited.json()["side_effect_reason"] == "set by a reviewer"

    approved = await client.post(f"/api/v1/openapi/jobs/{job['id']}/approve", json={}, headers=admin.headers)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    live = await _tool_names(client, customer.headers)
    assert "get_order" in live and "create_order" in live and "delete_order" not in live
    config = (await client.get(f"/assistants/{assistant}", headers=admin.headers)).json()["config"]
    assert "openapi:shop/*" in config["configurable"]["tools"]

    thread = await start_thread(client, admin.headers)
    values = await say(client, admin.headers, thread, assistant, "order two lamps and tell me the status")
    results = [m["content"] for m in tool_messages(values)]
    assert '"item":"lamp"' in results[0].replace(" ", "") and '"status":"open"' in results[1].replace(" ", "")
    assert values["messages"][-1]["content"] == "Your lamp order is open."
    assert all(r["api_key"] == API_KEY for r in shop.state.requests if "api_key" in r) or shop.state.requests

    again = await client.post(f"/api/v1/openapi/jobs/{job['id']}/approve", headers=admin.headers)
    assert_error(again, 409, "import_not_in_review")
    assert (await client.delete(f"/api/v1/openapi/jobs/{job['id']}", headers=admin.headers)).status_code == 204
    assert await _tool_names(client, admin.headers) == set()


async def test_an_approved_write_waits_for_approval_and_runs_once(client, admin, shop):
    job = await _job(
        client,
        admin,
        {"name": "shop2", "url": f"{shop.url}/openapi.json",
         "credentials": {"kind": "header", "name": "X-API-Key", "value": API_KEY}},
    )  # fmt: skip
    await client.post(f"/api/v1/openapi/jobs/{job['id']}/approve", headers=admin.headers)
    turns = [
        {"tool_calls": [{"name": "create_order", "args": {"body": {"item": "chair"}}}]},
        {"content": "Ordered."},
    ]
    assistant = await make_agent(client, admin.headers, turns, tools=["openapi:shop2/*"])
    thread = await start_thread(client, admin.headers)
    before = len(shop.state.executions)
    values = await say(client, admin.headers, thread, assistant, "order a chair")
    assert values["__interrupt__"][0]["value"]["action"] == "create_order"
    assert len(shop.state.executions) == before
    [approval] = (await client.get(f"/api/v1/approvals?thread_id={thread}", headers=admin.headers)).json()["items"]
    await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=admin.headers)
    state = await settle(client, admin.headers, thread)
    assert state["values"]["messages"][-1]["content"] == "Ordered."
    assert len(shop.state.executions) == before + 1


async def test_an_upload_imports_too(client, admin, shop):
    import httpx

    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{shop.url}/openapi.json")).content
    response = await client.post(
        "/api/v1/openapi/import/upload",
        files={"file": ("shop.json", document, "application/json")},
        data={"name": "uploaded", "base_url": shop.url},
        headers=admin.headers,
    )
    assert response.status_code == 202, response.text
    for _ in range(200):
        job = (await client.get(f"/api/v1/openapi/jobs/{response.json()['id']}", headers=admin.headers)).json()
        if job["status"] != "queued":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "review" and job["operations"] >= 6


def _bomb(levels: int = 9, fan_out: int = 4) -> str:
    """Each schema refers to the one below four times: 4**9 expanded nodes from a few lines."""
    schemas: dict = {"L0": {"type": "string"}}
    for i in range(1, levels + 1):
        props = {f"p{n}": {"$ref": f"#/components/schemas/L{i - 1}"} for n in range(fan_out)}
        schemas[f"L{i}"] = {"type": "object", "properties": props}
    query = {"name": "q", "in": "query", "schema": {"$ref": f"#/components/schemas/L{levels}"}}
    operation = {"parameters": [query], "responses": {"200": {"description": "ok"}}}
    return json.dumps({
        "openapi": "3.0.0", "info": {"title": "b", "version": "1"}, "servers": [{"url": "http://127.0.0.1:9"}],
        "paths": {"/x": {"get": operation}}, "components": {"schemas": schemas},
    })  # fmt: skip


BOMB = _bomb()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"document": "openapi: [3.0\n  : broken"}, "YAML"),
        ({"document": BOMB}, "$ref"),
        (
            {
                "document": '{"swagger": "2.0", "info": {"title": "m", "version": "1"}, "host": "169.254.169.254",'
                ' "paths": {"/latest": {"get": {"responses": {"200": {"description": "ok"}}}}}}'
            },
            "169.254.169.254",
        ),  # fmt: skip
        ({"document": '{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}}'}, "paths"),
        ({"url": "http://127.0.0.2:9/openapi.json"}, "refused"),
    ],
)
async def test_a_broken_or_hostile_document_fails_the_job_with_a_reason(client, admin, body, reason):
    job = await _job(client, admin, {"name": "bad", **body})
    assert job["status"] == "failed", job
    assert reason.lower() in job["error"].lower(), job["error"]
    assert job["operations"] == 0
    assert await _tool_names(client, admin.headers) == set()
    assert_error(await client.post(f"/api/v1/openapi/jobs/{job['id']}/approve", headers=admin.headers), 409)


async def test_a_50_mb_document_fails_the_job(client, admin):
    async with receiver() as server:
        job = await _job(client, admin, {"name": "huge", "url": f"{server.url}/big?size={50 * 1024 * 1024}"})
    assert job["status"] == "failed" and "limit" in job["error"], job


async def test_only_admins_import_and_staff_review(client, make_account, admin):
    staff = await make_account("reviewer", role="staff")
    customer = await make_account("customer")
    body = {"name": "x", "document": "{}"}
    assert_error(await client.post("/api/v1/openapi/import", json=body, headers=staff.headers), 403)
    assert_error(await client.get("/api/v1/openapi/jobs", headers=customer.headers), 403)
    assert (await client.get("/api/v1/openapi/jobs", headers=staff.headers)).status_code == 200
    assert_error(await client.post("/api/v1/openapi/import", json={"name": "x"}, headers=admin.headers), 422)


async def test_an_import_without_a_name_is_named_after_the_documents_title(client, admin, shop):
    first = await _job(client, admin, {"url": f"{shop.url}/openapi.json"})
    second = await _job(client, admin, {"url": f"{shop.url}/openapi.json"})
    assert (first["status"], first["name"]) == ("review", "shop")
    assert (second["status"], second["name"]) == ("review", "shop-2")
    paths = {"/ping": {"get": {"operationId": "ping", "responses": {"200": {"description": "ok"}}}}}

    def document(title: str) -> str:
        return json.dumps({"openapi": "3.0.0", "info": {"title": title, "version": "1"}, "paths": paths})

    titled = await _job(client, admin, {"document": document("Acme Orders API - v2"), "base_url": shop.url})
    assert (titled["status"], titled["name"]) == ("review", "acme-orders-api-v2")
    assert (await _job(client, admin, {"document": document("订单接口"), "base_url": shop.url}))["name"] == "api"
    broken = await _job(client, admin, {"document": "{}"})
    assert broken["status"] == "failed" and broken["name"].startswith("import-")  # no title to name it after

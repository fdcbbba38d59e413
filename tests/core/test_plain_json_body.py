"""Agent Protocol bodies sent as text/plain are read as JSON, as the official server reads them: agent-chat-ui's
Next.js passthrough forwards the body as a string (so `fetch` labels it text/plain) with only `x-api-key`. A
text/plain write authenticated by the console cookie alone must still prove it is same-site (a cross-site form
or no-preflight fetch could send it)."""

from __future__ import annotations

import json

from tests.conftest import PASSWORD, assert_error

PLAIN = "text/plain;charset=UTF-8"


async def _api_key(client, account) -> str:
    created = await client.post("/api/v1/api-keys", json={"name": "passthrough"}, headers=account.headers)
    assert created.status_code == 201, created.text
    return created.json()["key"]


def _as_passthrough(key: str, body: dict) -> dict:
    """What langgraph-nextjs-api-passthrough sends: the body as a string, x-api-key, no JSON content type."""
    return {"content": json.dumps(body), "headers": {"x-api-key": key, "content-type": PLAIN}}


async def test_the_passthroughs_text_plain_requests_create_a_thread_and_stream_a_run(client, make_account):
    key = await _api_key(client, await make_account("chatui"))
    created = await client.post("/threads", **_as_passthrough(key, {"metadata": {"from": "chat-ui"}}))
    assert created.status_code == 200, created.text
    thread = created.json()
    assert thread["metadata"]["from"] == "chat-ui"
    searched = await client.post("/threads/search", **_as_passthrough(key, {"metadata": {"from": "chat-ui"}}))
    assert [t["thread_id"] for t in searched.json()] == [thread["thread_id"]]
    body = {"assistant_id": "echo", "input": {"messages": [{"type": "human", "content": "hi"}]}}
    async with client.stream(
        "POST", f"/threads/{thread['thread_id']}/runs/stream", **_as_passthrough(key, body)
    ) as stream:
        assert stream.status_code == 200
        text = "".join([chunk async for chunk in stream.aiter_text()])
    assert "event: metadata" in text and "event: end" in text


async def test_an_unparseable_text_plain_body_is_the_same_error_as_a_json_one(client, make_account):
    key = await _api_key(client, await make_account("chatui"))
    plain = await client.post("/threads", content="{not json", headers={"x-api-key": key, "content-type": PLAIN})
    as_json = await client.post(
        "/threads", content="{not json", headers={"x-api-key": key, "content-type": "application/json"}
    )
    assert assert_error(plain, 400, "invalid_json") == assert_error(as_json, 400, "invalid_json")
    wrong_shape = await client.post("/threads", content="[1]", headers={"x-api-key": key, "content-type": PLAIN})
    assert_error(wrong_shape, 422)


async def test_a_body_with_no_content_type_is_read_as_json_too(client, make_account):
    key = await _api_key(client, await make_account("chatui"))
    response = await client.post("/threads", content=json.dumps({"metadata": {"n": 1}}), headers={"x-api-key": key})
    assert response.status_code == 200 and response.json()["metadata"] == {"n": 1}


async def test_a_cookie_text_plain_write_needs_a_same_site_origin(client, make_account):
    account = await make_account("cookie")
    await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert client.cookies.get("loopdesk_session")
    body = json.dumps({"metadata": {}})
    unknown = await client.post("/threads", content=body, headers={"content-type": PLAIN})
    assert_error(unknown, 403, "forbidden")
    cross = await client.post(
        "/threads", content=body, headers={"content-type": PLAIN, "Origin": "https://evil.example"}
    )
    assert_error(cross, 403, "forbidden")
    same = await client.post("/threads", content=body, headers={"content-type": PLAIN, "Origin": "http://testserver"})
    assert same.status_code == 200, same.text
    as_json = await client.post("/threads", json={"metadata": {}})  # a JSON body needs a CORS preflight anyway
    assert as_json.status_code == 200, as_json.text


async def test_product_routes_keep_their_content_types(client, make_account):
    account = await make_account("plain")
    response = await client.patch(
        "/api/v1/users/me",
        content=json.dumps({"display_name": "x"}),
        headers={**account.headers, "content-type": PLAIN},
    )
    assert_error(response, 422)

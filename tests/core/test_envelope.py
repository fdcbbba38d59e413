"""The seeds' `{"success", "data", "error"}` envelope: served on request under /api/v1 (and the seeds' /api
paths), loopdesk's own shape otherwise; streams and other content types pass untouched."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from loopdesk.core.envelope import ResponseEnvelopeMiddleware
from tests.conftest import assert_error

SWITCH = {"X-Response-Envelope": "1"}


async def test_a_success_is_wrapped_as_data(client, make_account):
    customer = await make_account("customer")
    plain = (await client.get("/api/v1/users/me", headers=customer.headers)).json()
    wrapped = await client.get("/api/v1/users/me", headers={**customer.headers, **SWITCH})
    assert wrapped.status_code == 200
    assert wrapped.json() == {"success": True, "data": plain, "error": None}
    assert int(wrapped.headers["content-length"]) == len(wrapped.content)
    seed = await client.get("/api/users/me", headers={**customer.headers, **SWITCH})  # the seeds' own path
    assert seed.json() == {"success": True, "data": plain, "error": None}


async def test_an_error_keeps_its_status_and_carries_loopdesks_error_object(client):
    response = await client.get("/api/v1/users/me", headers=SWITCH)
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False and body["data"] is None
    assert body["error"]["code"] == "not_authenticated" and set(body["error"]) == {"code", "message", "detail"}


async def test_the_query_switch_is_not_seen_by_the_handler(client, make_account):
    customer = await make_account("customer")
    # /api/v1/tasks refuses unknown query parameters: the switch must not reach it.
    assert_error(await client.get("/api/v1/tasks", params={"bogus": "1"}, headers=customer.headers), 422)
    response = await client.get("/api/v1/tasks", params={"envelope": "1", "limit": "5"}, headers=customer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True and response.json()["data"]["limit"] == 5


async def test_without_the_switch_or_outside_the_api_nothing_changes(client, make_account):
    customer = await make_account("customer")
    me = await client.get("/api/v1/users/me", headers=customer.headers)
    assert "success" not in me.json() and me.json()["id"] == customer.id
    assert_error(await client.get("/api/v1/users/me"), 401, "not_authenticated")
    off = await client.get("/api/v1/users/me", params={"envelope": "0"}, headers=customer.headers)
    assert off.json()["id"] == customer.id
    threads = await client.post("/threads/search", json={}, headers={**customer.headers, **SWITCH})
    assert isinstance(threads.json(), list)  # Agent Protocol keeps its shape


async def _events():
    yield b"event: values\ndata: {}\n\n"
    yield b"event: end\ndata: null\n\n"


def _app() -> ResponseEnvelopeMiddleware:
    routes = [
        Route("/api/v1/text", lambda request: PlainTextResponse("plain")),
        Route("/api/v1/stream", lambda request: StreamingResponse(_events(), media_type="text/event-stream")),
        Route("/api/v1/json", lambda request: JSONResponse([1, 2], status_code=201)),
    ]
    return ResponseEnvelopeMiddleware(Starlette(routes=routes))


async def test_streams_and_other_content_types_pass_untouched():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=SWITCH) as http:
        assert (await http.get("/api/v1/text")).text == "plain"
        stream = await http.get("/api/v1/stream")
        assert stream.text == "event: values\ndata: {}\n\nevent: end\ndata: null\n\n"
        created = await http.get("/api/v1/json")
        assert created.status_code == 201 and created.json() == {"success": True, "data": [1, 2], "error": None}

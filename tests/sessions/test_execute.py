"""Executing messages in a session: stopping at a write tool's approval and continuing after it,
streaming (SSE) with a dropped connection resumed by `Last-Event-ID`, and the per-user run limit."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.conftest import assert_error
from tests.sessions.conftest import execute, new_session
from tests.tools.agents import make_agent
from tests.tools.conftest import plugin_module

REFUND = [
    {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-7", "amount": 5}}]},
    {"content": "Refund sent."},
]
WORDS = "one two three four five six seven eight nine ten"


async def _wait_idle(http: httpx.AsyncClient, headers: dict[str, str], sid: str) -> dict:
    for _ in range(600):
        session = (await http.get(f"/api/v1/sessions/{sid}", headers=headers)).json()
        if session["status"] != "running":
            return session
        await asyncio.sleep(0.05)
    raise AssertionError("the session is still running")


async def _iter(response: httpx.Response):
    """The SSE events (id, event, data) of a streaming response."""
    current: dict = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if current:
                current["data"] = json.loads(current["data"])
                yield current
                current = {}
            continue
        field, _, value = line.partition(": ")
        current[field] = value


async def _events(response: httpx.Response, *, stop_after: int | None = None) -> list[dict]:
    """All events, or the first `stop_after` ones (the connection is then dropped)."""
    events: list[dict] = []
    async for event in _iter(response):
        events.append(event)
        if stop_after is not None and len(events) >= stop_after:
            break
    return events


async def test_a_write_tool_stops_at_an_approval_and_continues_when_approved(http, client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("refund")
    assistant = await make_agent(client, None, REFUND, tools=["refund_order", "lookup_order"])
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]

    answer = await execute(http, customer.headers, sid, "please refund ORD-7")
    result = answer.json()
    assert result["status"] == "interrupted", result
    [approval] = result["pending_approvals"]
    assert approval["tool_name"] == "refund_order" and approval["args"] == {"order_id": "ORD-7", "amount": 5}
    assert approval["status"] == "pending" and approval["thread_id"] == sid
    assert [m["role"] for m in result["messages"]] == ["user", "assistant"]
    assert result["messages"][1]["tool_calls"][0]["name"] == "refund_order"
    assert [e for e in plugin_module().EXECUTED if e.get("order_id") == "ORD-7"] == []

    session = (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()
    assert session["status"] == "interrupted"
    waiting = assert_error(await execute(http, customer.headers, sid, "hello?"), 409, "session_interrupted")
    assert waiting["detail"]["approval_ids"] == [approval["id"]]

    decided = await http.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert decided.status_code == 200, decided.text
    assert (await _wait_idle(http, customer.headers, sid))["status"] == "idle"
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()["items"]
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "please refund ORD-7"),
        ("assistant", ""),
        ("tool", "refunded 5 for ORD-7"),
        ("assistant", "Refund sent."),
    ]
    assert history[2]["tool_call_id"] == history[1]["tool_calls"][0]["id"]
    assert len([e for e in plugin_module().EXECUTED if e.get("order_id") == "ORD-7"]) == 1
    # The session can take messages again.
    assert (await execute(http, customer.headers, sid, "thanks")).status_code == 200


async def test_a_dropped_stream_resumes_after_the_last_event_it_saw(http, client, make_account):
    customer = await make_account("stream")
    assistant = await make_agent(client, None, [{"content": WORDS}])
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]

    async with http.stream(
        "POST", f"/api/v1/sessions/{sid}/execute", json={"message": "count", "stream": True}, headers=customer.headers
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        location = response.headers["location"]
        first = await _events(response, stop_after=4)  # then the connection is dropped
    assert [e["event"] for e in first[:2]] == ["user_message", "token"]
    run_id = first[0]["data"]["run_id"]
    assert location == f"/api/v1/sessions/{sid}/stream?run_id={run_id}"

    headers = {**customer.headers, "Last-Event-ID": first[-1]["id"]}
    async with http.stream("GET", f"/api/v1/sessions/{sid}/stream", headers=headers) as response:
        assert response.status_code == 200
        rest = await _events(response)
    assert rest[-1]["event"] == "message_complete" and rest[-1]["data"]["status"] == "success"

    async with http.stream("GET", location, headers=customer.headers) as response:
        whole = await _events(response)
    assert [e["id"] for e in first + rest] == [e["id"] for e in whole]  # every event exactly once, in order
    tokens = "".join(e["data"]["content"] for e in first + rest if e["event"] == "token")
    assert tokens.split() == WORDS.split()
    for event in whole:
        assert event["data"]["type"] == event["event"] and event["data"]["event_id"] == event["id"]

    # Resuming after the last event of a finished run: nothing more to send, the stream ends at once.
    headers = {**customer.headers, "Last-Event-ID": whole[-1]["id"]}
    async with http.stream("GET", f"/api/v1/sessions/{sid}/stream", headers=headers) as response:
        assert await _events(response) == []


async def test_accept_event_stream_streams_and_the_events_carry_the_approval(http, client, make_account):
    customer = await make_account("sse")
    assistant = await make_agent(client, None, REFUND, tools=["refund_order"])
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    headers = {**customer.headers, "Accept": "text/event-stream"}
    async with http.stream(
        "POST", f"/api/v1/sessions/{sid}/execute", json={"message": "refund it"}, headers=headers
    ) as response:
        events = await _events(response)
    names = [e["event"] for e in events]
    assert names[0] == "user_message" and names[-1] == "message_complete"
    assert "tool_call" in names and "interrupt" in names
    [interrupt] = [e["data"] for e in events if e["event"] == "interrupt"]
    assert interrupt["action"] == "refund_order" and interrupt["params"] == {"order_id": "ORD-7", "amount": 5}
    assert events[-1]["data"]["status"] == "interrupted"

    # After the REST approval, following the session from the last event shows the continuation.
    approval = (await http.get("/api/v1/approvals", headers=customer.headers)).json()["items"][0]
    await http.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    follow = {**customer.headers, "Last-Event-ID": events[-1]["id"]}
    async with http.stream("GET", f"/api/v1/sessions/{sid}/stream?follow=true", headers=follow) as response:
        later: list[dict] = []
        async for event in _iter(response):
            later.append(event)
            if event["event"] == "message_complete":
                break
    assert [e["data"]["result"] for e in later if e["event"] == "tool_result"] == ["refunded 5 for ORD-7"]
    assert "".join(e["data"]["content"] for e in later if e["event"] == "token") == "Refund sent."
    assert later[-1]["data"]["status"] == "success"


async def test_bad_resume_ids_are_refused(http, make_account):
    customer = await make_account("resume")
    sid = (await new_session(http, customer.headers))["session_id"]
    bad = {**customer.headers, "Last-Event-ID": "garbage"}
    assert_error(await http.get(f"/api/v1/sessions/{sid}/stream", headers=bad), 400, "bad_request")
    gone = {**customer.headers, "Last-Event-ID": "00000000-0000-0000-0000-000000000000:3:0"}
    assert_error(await http.get(f"/api/v1/sessions/{sid}/stream", headers=gone), 409)


async def test_runs_per_user_are_rate_limited_with_retry_after(http, client, make_account, app):
    app.state.settings.sessions.run_rate_limit = "3/minute"
    customer = await make_account("limited")
    other = await make_account("other")
    assistant = await make_agent(client, None, [{"content": "ok"}] * 5)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    for n in range(2):
        assert (await execute(http, customer.headers, sid, f"m{n}")).status_code == 200
    run = await http.post(f"/threads/{sid}/runs", json={"assistant_id": assistant}, headers=customer.headers)
    assert run.status_code == 200  # Agent Protocol runs count against the same limit
    await _wait_idle(http, customer.headers, sid)

    limited = await execute(http, customer.headers, sid, "one too many")
    error = assert_error(limited, 429, "rate_limited")
    assert 1 <= error["detail"]["retry_after"] <= 60
    assert limited.headers["retry-after"] == str(error["detail"]["retry_after"])
    assert_error(
        await http.post(f"/threads/{sid}/runs", json={"assistant_id": assistant}, headers=customer.headers), 429
    )
    assert_error(await http.post("/runs/wait", json={"assistant_id": assistant}, headers=customer.headers), 429)
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()["items"]
    assert "one too many" not in [m["content"] for m in history]

    other_session = (await new_session(http, other.headers))["session_id"]
    assert (await execute(http, other.headers, other_session, "hello")).status_code == 200


async def test_a_new_message_on_a_thread_waiting_for_approval_withdraws_the_call(http, client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("moved-on")
    turns = [
        {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-9", "amount": 1}}]},
        {"content": "Understood, no refund."},
    ]
    assistant = await make_agent(client, None, turns, tools=["refund_order"])
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    [approval] = (await execute(http, customer.headers, sid, "refund ORD-9")).json()["pending_approvals"]

    # An Agent Protocol client sends new input to the waiting thread instead of deciding.
    moved = await http.post(
        f"/threads/{sid}/runs/wait",
        json={"assistant_id": assistant, "input": {"messages": [{"role": "user", "content": "never mind"}]}},
        headers=customer.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["messages"][-1]["content"] == "Understood, no refund."
    withdrawn = (await http.get(f"/api/v1/approvals/{approval['id']}", headers=customer.headers)).json()
    assert withdrawn["status"] == "rejected" and withdrawn["decided_via"] == "superseded"
    late = await http.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert_error(late, 409, "approval_not_pending")
    assert [e for e in plugin_module().EXECUTED if e.get("order_id") == "ORD-9"] == []
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()["status"] == "idle"

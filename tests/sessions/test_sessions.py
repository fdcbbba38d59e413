"""The sessions API over HTTP against a real server: life cycle, the conversation, clearing, expiry,
who sees what, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, text

from loopdesk.audit.models import AuditEvent
from loopdesk.runtime.graphs import default_assistant_id
from tests.conftest import assert_error
from tests.sessions.conftest import execute, new_session
from tests.tools.agents import make_agent

HELLO = [{"content": "Hello there."}, {"content": "Second answer."}]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_the_whole_life_cycle(http, client, make_account, app):
    customer = await make_account("life")
    assistant = await make_agent(client, None, HELLO)
    session = await new_session(http, customer.headers, assistant_id=assistant, title="Order question")
    sid = session["session_id"]
    assert session["thread_id"] == sid and session["user_id"] == customer.id
    assert session["assistant_id"] == assistant and session["title"] == "Order question"
    assert session["status"] == "idle" and session["message_count"] == 0
    created = _when(session["created_at"])
    assert abs(_when(session["expires_at"]) - created - timedelta(minutes=30)) < timedelta(seconds=5)

    answer = await execute(http, customer.headers, sid, "hi, where is my order?")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == "success" and result["session_id"] == sid
    assert [(m["role"], m["content"]) for m in result["messages"]] == [
        ("user", "hi, where is my order?"),
        ("assistant", "Hello there."),
    ]
    assert result["tool_calls"] == [] and result["pending_approvals"] == [] and result["error"] is None
    assert all(m["run_id"] == result["run_id"] for m in result["messages"])

    second = (await execute(http, customer.headers, sid, "and again")).json()
    assert [m["content"] for m in second["messages"]] == ["and again", "Second answer."]

    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert history["total"] == 4
    assert [m["content"] for m in history["items"]] == [
        "hi, where is my order?", "Hello there.", "and again", "Second answer."
    ]  # fmt: skip
    times = [_when(m["created_at"]) for m in history["items"]]
    assert times == sorted(times) and times[0] >= created - timedelta(seconds=1)
    assert all(m["status"] == "complete" for m in history["items"])
    paged = (await http.get(f"/api/v1/sessions/{sid}/messages?limit=1&offset=1", headers=customer.headers)).json()
    assert [m["content"] for m in paged["items"]] == ["Hello there."] and paged["total"] == 4

    read = (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()
    assert read["status"] == "idle" and read["message_count"] == 4
    assert _when(read["last_activity_at"]) > created

    renamed = await http.patch(f"/api/v1/sessions/{sid}", json={"title": "Renamed"}, headers=customer.headers)
    assert renamed.json()["title"] == "Renamed"

    deleted = await http.delete(f"/api/v1/sessions/{sid}", headers=customer.headers)
    assert deleted.status_code == 204
    assert_error(await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers), 404, "session_not_found")
    assert_error(await http.get(f"/threads/{sid}", headers=customer.headers), 404)
    async with app.state.database.sessionmaker() as db:
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == sid))).all()
    assert actions == ["session.deleted"]


async def test_the_default_assistant_is_the_general_agent_with_the_offline_model(http, make_account):
    customer = await make_account("offline")
    session = await new_session(http, customer.headers)
    assert session["assistant_id"] == str(default_assistant_id("agent")) and session["title"] is None
    result = (await execute(http, customer.headers, session["session_id"], "What is 12 * 7?")).json()
    titled = (await http.get(f"/api/v1/sessions/{session['session_id']}", headers=customer.headers)).json()
    assert titled["title"] == "What is 12 * 7?"  # an untitled session is named after its first message
    assert result["status"] == "success", result
    [call] = result["tool_calls"]
    assert call["tool"] == "calculator" and call["status"] == "succeeded"
    assert "84" in str(call["result"])
    assert result["messages"][-1]["role"] == "assistant" and "84" in result["messages"][-1]["content"]
    roles = [m["role"] for m in result["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert result["messages"][1]["tool_calls"][0]["name"] == "calculator"


async def test_clearing_starts_the_conversation_afresh_and_keeps_the_audit_trail(http, client, make_account, app):
    customer = await make_account("clear")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    first = (await execute(http, customer.headers, sid, "one")).json()
    assert first["messages"][-1]["content"] == "Hello there."

    cleared = await http.delete(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)
    assert cleared.status_code == 204
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert history == {"items": [], "total": 0, "limit": 100, "offset": 0}
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()["message_count"] == 0
    state = (await http.get(f"/threads/{sid}/state", headers=customer.headers)).json()
    assert state["values"] == {}

    # The model sees an empty conversation: the script starts over at its first turn.
    again = (await execute(http, customer.headers, sid, "two")).json()
    assert [m["content"] for m in again["messages"]] == ["two", "Hello there."]
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert [m["content"] for m in history["items"]] == ["two", "Hello there."]
    async with app.state.database.sessionmaker() as db:
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == sid))).all()
    assert actions == ["session.cleared"]


async def test_users_see_only_their_own_sessions_and_staff_see_everyones(http, make_account):
    alice = await make_account("alice")
    bob = await make_account("bob")
    staff = await make_account("staff", role="staff")
    first = await new_session(http, alice.headers, title="first")
    second = await new_session(http, alice.headers, title="second")
    bobs = await new_session(http, bob.headers, title="bob's")
    await asyncio.sleep(0.01)
    await http.patch(f"/api/v1/sessions/{first['session_id']}", json={"title": "first"}, headers=alice.headers)

    mine = (await http.get("/api/v1/sessions", headers=alice.headers)).json()
    assert mine["total"] == 2
    assert {s["session_id"] for s in mine["items"]} == {first["session_id"], second["session_id"]}
    theirs = (await http.get("/api/v1/sessions", headers=bob.headers)).json()
    assert [s["session_id"] for s in theirs["items"]] == [bobs["session_id"]]
    page = (await http.get("/api/v1/sessions?limit=1", headers=alice.headers)).json()
    assert len(page["items"]) == 1 and page["total"] == 2

    foreign = bobs["session_id"]
    assert_error(await http.get(f"/api/v1/sessions/{foreign}", headers=alice.headers), 404, "session_not_found")
    assert_error(await execute(http, alice.headers, foreign, "hi"), 404, "session_not_found")
    assert_error(await http.get(f"/api/v1/sessions/{foreign}/messages", headers=alice.headers), 404)
    assert_error(await http.delete(f"/api/v1/sessions/{foreign}/messages", headers=alice.headers), 404)
    assert_error(await http.delete(f"/api/v1/sessions/{foreign}", headers=alice.headers), 404)
    assert_error(await http.get(f"/threads/{foreign}", headers=alice.headers), 404)
    # Alice's filter on another user changes nothing for a customer: still only her own.
    filtered = (await http.get(f"/api/v1/sessions?user_id={bob.id}", headers=alice.headers)).json()
    assert filtered["items"] == []

    everyone = (await http.get(f"/api/v1/sessions?user_id={bob.id}", headers=staff.headers)).json()
    assert [s["session_id"] for s in everyone["items"]] == [foreign]
    assert (await http.get(f"/api/v1/sessions/{foreign}", headers=staff.headers)).status_code == 200
    assert_error(await execute(http, staff.headers, foreign, "hi"), 403)
    assert_error(await http.delete(f"/api/v1/sessions/{foreign}", headers=staff.headers), 403)


async def test_an_expired_session_stays_readable_but_cannot_execute(http, client, make_account, app):
    app.state.settings.sessions.session_ttl_minutes = 1 / 60  # one second
    customer = await make_account("expiry")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    assert (await execute(http, customer.headers, sid, "quick")).json()["status"] == "success"
    await asyncio.sleep(1.5)
    read = (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()
    assert read["status"] == "expired"
    error = assert_error(await execute(http, customer.headers, sid, "too late"), 410, "session_expired")
    assert error["detail"]["session_id"] == sid
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert [m["content"] for m in history["items"]] == ["quick", "Hello there."]  # the refused one is not there


async def test_an_expired_sessions_thread_refuses_runs_on_every_path(http, client, make_account, server_url, app):
    from tests.realtime.wsclient import WS

    customer = await make_account("lapsed")
    assistant = await make_agent(client, None, HELLO)
    expired = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    live = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    async with app.state.database.sessionmaker() as db, db.begin():  # an hour without activity: past its 30 minutes
        await db.execute(
            text("UPDATE user_sessions SET last_activity_at = now() - interval '1 hour' WHERE session_id = :id"),
            {"id": expired},
        )
        await db.execute(
            text("UPDATE threads SET updated_at = now() - interval '1 hour' WHERE thread_id = :id"), {"id": expired}
        )
    body = {"assistant_id": assistant, "input": {"messages": [{"role": "user", "content": "still there?"}]}}
    for path in ("runs", "runs/stream", "runs/wait"):
        error = assert_error(await http.post(f"/threads/{expired}/{path}", json=body, headers=customer.headers), 410)
        assert error["code"] == "session_expired" and error["detail"]["session_id"] == expired
    assert_error(await execute(http, customer.headers, expired, "still there?"), 410, "session_expired")
    ws = await WS.open(server_url, customer.token)
    refused = await ws.request({"type": "message", "thread_id": expired, "content": "still there?"})
    await ws.close()
    assert refused["type"] == "error" and refused["code"] == "session_expired"
    assert (await http.get(f"/threads/{expired}/runs", headers=customer.headers)).json() == []

    # A session within its time takes runs on the same paths.
    waited = await http.post(f"/threads/{live}/runs/wait", json=body, headers=customer.headers)
    assert waited.status_code == 200, waited.text


async def test_staff_sessions_do_not_expire_by_default(http, make_account):
    staff = await make_account("agent", role="staff")
    session = await new_session(http, staff.headers)
    assert session["expires_at"] is None


async def test_bad_input_is_refused_and_nothing_is_recorded(http, client, make_account, app):
    customer = await make_account("bad")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    assert_error(await execute(http, customer.headers, sid, ""), 422, "invalid_message")
    assert_error(await execute(http, customer.headers, sid, "   \n"), 422, "invalid_message")
    too_long = assert_error(await execute(http, customer.headers, sid, "x" * 10_001), 422, "invalid_message")
    assert too_long["detail"]["limit"] == 10_000
    assert (await execute(http, customer.headers, sid, "x" * 10_000)).status_code == 200
    missing = await http.post(f"/api/v1/sessions/{sid}/execute", json={}, headers=customer.headers)
    assert_error(missing, 422, "validation_error")
    assert_error(await execute(http, customer.headers, str(uuid.uuid4()), "hi"), 404, "session_not_found")
    assert_error(await http.get("/api/v1/sessions/not-a-uuid", headers=customer.headers), 422)
    assert_error(await http.post("/api/v1/sessions", json={"assistant_id": "nope"}, headers=customer.headers), 404)
    assert_error(await http.post("/api/v1/sessions", json={"title": "x" * 201}, headers=customer.headers), 422)
    assert_error(await http.get("/api/v1/sessions"), 401)
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert history["total"] == 2  # only the accepted message and its answer


async def test_execute_on_a_session_whose_assistant_was_deleted_says_why(http, client, admin, make_account):
    customer = await make_account("gone")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    assert (await http.delete(f"/assistants/{assistant}", headers=admin.headers)).status_code in (200, 204)
    error = assert_error(await execute(http, customer.headers, sid, "hello?"), 409, "assistant_unavailable")
    assert error["detail"] == {"assistant_id": assistant, "reason": "assistant_not_found"}
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).status_code == 200


async def test_a_message_whose_run_fails_is_still_in_the_history_once(http, client, make_account):
    customer = await make_account("fails")
    assistant = await make_agent(client, None, [{"content": "never", "expect": "^magic word$"}])
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    result = (await execute(http, customer.headers, sid, "not the magic word")).json()
    assert result["status"] == "error" and "expects a user message" in result["error"]["message"]
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert [(m["role"], m["content"]) for m in history["items"]] == [("user", "not the magic word")]


async def test_messages_sent_while_a_run_is_active_queue_and_each_is_kept_once(http, client, make_account):
    customer = await make_account("queue")
    turns = [{"content": f"answer {n}"} for n in range(1, 4)]
    assistant = await make_agent(client, None, turns)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    replies = await asyncio.gather(*(execute(http, customer.headers, sid, f"question {n}") for n in range(1, 4)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    contents = [m["content"] for m in history["items"]]
    assert sorted(c for c in contents if c.startswith("question")) == ["question 1", "question 2", "question 3"]
    assert [c for c in contents if c.startswith("answer")] == ["answer 1", "answer 2", "answer 3"]
    assert len(contents) == 6


async def test_a_repeated_idempotency_key_answers_with_the_first_run(http, client, make_account):
    customer = await make_account("idem")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    headers = {**customer.headers, "Idempotency-Key": "msg-1"}
    first = (await execute(http, headers, sid, "only once")).json()
    second = (await execute(http, headers, sid, "only once")).json()
    assert first["run_id"] == second["run_id"]
    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()
    assert [m["content"] for m in history["items"]] == ["only once", "Hello there."]


async def test_a_long_first_message_makes_a_short_title(http, client, make_account):
    customer = await make_account("title")
    assistant = await make_agent(client, None, HELLO)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    await execute(http, customer.headers, sid, "my   order\n" + "is late " * 30)
    title = (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()["title"]
    assert len(title) == 80 and title.startswith("my order is late is late") and title.endswith("…")

"""The approval round trip: a write tool's call waits for a person (REST or WebSocket), who approves,
rejects or edits it; the policy decides which calls wait, per tool and per user; nobody deciding
in time cancels the call."""

from __future__ import annotations

import pytest

from tests.conftest import assert_error
from tests.tools.agents import make_agent, say, settle, start_thread, tool_messages
from tests.tools.conftest import plugin_module

REFUND = [
    {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-1", "amount": 5}}]},
    {"content": "All done."},
]


async def _interrupted_refund(client, account):
    assistant = await make_agent(client, None, REFUND, tools=["refund_order", "lookup_order"])
    thread = await start_thread(client, account.headers)
    values = await say(client, account.headers, thread, assistant, "refund ORD-1 please")
    assert values.get("__interrupt__"), values
    pending = (await client.get("/api/v1/approvals", headers=account.headers)).json()
    [approval] = [a for a in pending["items"] if a["thread_id"] == thread]
    return thread, approval


def _refunds(order_id: str = "ORD-1") -> list[dict]:
    return [e for e in plugin_module().EXECUTED if e.get("order_id") == order_id]


async def test_a_write_tool_waits_for_approval_then_runs_once(client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    thread, approval = await _interrupted_refund(client, customer)
    assert approval["status"] == "pending" and approval["tool_name"] == "refund_order"
    assert approval["args"] == {"order_id": "ORD-1", "amount": 5}
    assert approval["side_effect"] == "write"
    assert _refunds() == []  # nothing ran before the decision

    decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved" and decided.json()["decided_via"] == "rest"
    state = await settle(client, customer.headers, thread)
    assert state["status"] == "idle"
    assert [m["content"] for m in tool_messages(state["values"])] == ["refunded 5 for ORD-1"]
    assert state["values"]["messages"][-1]["content"] == "All done."
    assert len(_refunds()) == 1
    assert _refunds()[0]["key"].endswith(":" + approval["tool_call_id"])

    again = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert_error(again, 409, "approval_not_pending")
    assert len(_refunds()) == 1


async def test_reject_tells_the_model_and_nothing_runs(client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    thread, approval = await _interrupted_refund(client, customer)
    response = await client.post(
        f"/api/v1/approvals/{approval['id']}/reject", json={"message": "not eligible"}, headers=customer.headers
    )
    assert response.json()["status"] == "rejected"
    state = await settle(client, customer.headers, thread)
    [tool] = tool_messages(state["values"])
    assert "rejected" in tool["content"] and "not eligible" in tool["content"] and tool["status"] == "error"
    assert _refunds() == []


async def test_edit_runs_with_the_reviewers_arguments(client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    thread, approval = await _interrupted_refund(client, customer)
    bad = await client.post(
        f"/api/v1/approvals/{approval['id']}/edit", json={"args": {"order_id": "ORD-1"}}, headers=customer.headers
    )
    assert_error(bad, 422, "invalid_arguments")
    edited = await client.post(
        f"/api/v1/approvals/{approval['id']}/edit",
        json={"args": {"order_id": "ORD-1", "amount": 2.5}},
        headers=customer.headers,
    )
    assert edited.json()["status"] == "edited" and edited.json()["edited_args"]["amount"] == 2.5
    state = await settle(client, customer.headers, thread)
    assert [m["content"] for m in tool_messages(state["values"])] == ["refunded 2.5 for ORD-1"]
    assert [e["amount"] for e in _refunds()] == [2.5]


async def test_only_the_owner_or_staff_may_see_and_decide(client, make_account):
    owner = await make_account("owner")
    other = await make_account("other")
    staff = await make_account("staff", role="staff")
    thread, approval = await _interrupted_refund(client, owner)
    assert_error(await client.get(f"/api/v1/approvals/{approval['id']}", headers=other.headers), 404)
    assert_error(await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=other.headers), 404)
    assert (await client.get("/api/v1/approvals", headers=other.headers)).json()["items"] == []
    seen = await client.get("/api/v1/tools/pending-approvals", headers=staff.headers)
    assert approval["id"] in [a["id"] for a in seen.json()["items"]]
    decided = await client.post(f"/api/v1/tools/approvals/{approval['id']}/reject", headers=staff.headers)
    assert decided.status_code == 200 and decided.json()["decided_by"] == staff.id
    assert (await settle(client, owner.headers, thread))["status"] == "idle"


async def test_every_decision_is_in_the_audit_trail(client, make_account, app):
    from sqlalchemy import select

    from loopdesk.audit.models import AuditEvent

    customer = await make_account("customer")
    _, approval = await _interrupted_refund(client, customer)
    await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    async with app.state.database.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.subject_id == approval["id"]).order_by(AuditEvent.id)
            )
        ).all()
    assert [e.action for e in events] == ["approval.requested", "approval.approved"]
    assert str(events[1].actor_id) == customer.id and events[1].detail["via"] == "rest"


class TestPolicy:
    async def test_tools_list_shows_the_effective_mode_for_the_caller(self, client, make_account, admin):
        customer = await make_account("customer")
        tools = {t["name"]: t for t in (await client.get("/api/v1/tools", headers=customer.headers)).json()}
        assert tools["lookup_order"]["approval_mode"] == "auto"
        assert tools["refund_order"]["approval_mode"] == "require_approval"
        assert tools["delete_account"]["approval_mode"] == "require_approval"
        assert tools["refund_order"]["source"] == "python" and tools["refund_order"]["source_id"] == "shop_tools"
        assert tools["refund_order"]["parameters"]["required"] == ["order_id", "amount"]

        put = await client.put(
            "/api/v1/tools/refund_order/approval", json={"mode": "auto", "user_id": customer.id}, headers=admin.headers
        )
        assert put.status_code == 200, put.text
        mine = (await client.get("/api/v1/tools/refund_order", headers=customer.headers)).json()
        assert (mine["approval_mode"], mine["approval_origin"]) == ("auto", "user")
        others = (await client.get("/api/v1/tools/refund_order", headers=admin.headers)).json()
        assert (others["approval_mode"], others["approval_origin"]) == ("require_approval", "tool")

    async def test_only_admins_set_policies(self, client, make_account):
        staff = await make_account("staff", role="staff")
        response = await client.put("/api/v1/tools/refund_order/approval", json={"mode": "auto"}, headers=staff.headers)
        assert_error(response, 403)
        response = await client.put("/api/v1/tools/nope/approval", json={"mode": "auto"}, headers=staff.headers)
        assert_error(response, 403)

    async def test_unknown_tool_and_bad_mode(self, client, admin):
        assert_error(await client.put("/api/v1/tools/nope/approval", json={"mode": "auto"}, headers=admin.headers), 404)
        bad = await client.put("/api/v1/tools/refund_order/approval", json={"mode": "maybe"}, headers=admin.headers)
        assert_error(bad, 422)

    async def test_a_user_override_to_auto_runs_without_asking(self, client, make_account, admin):
        plugin_module().EXECUTED.clear()
        trusted = await make_account("trusted")
        await client.put(
            "/api/v1/tools/refund_order/approval", json={"mode": "auto", "user_id": trusted.id}, headers=admin.headers
        )
        assistant = await make_agent(client, None, REFUND, tools=["refund_order"])
        thread = await start_thread(client, trusted.headers)
        values = await say(client, trusted.headers, thread, assistant, "refund ORD-1")
        assert not values.get("__interrupt__")
        assert len(_refunds()) == 1

    async def test_deny_refuses_whatever_the_model_says(self, client, make_account, admin):
        plugin_module().EXECUTED.clear()
        customer = await make_account("customer")
        await client.put("/api/v1/tools/refund_order/approval", json={"mode": "deny"}, headers=admin.headers)
        assistant = await make_agent(client, None, REFUND, tools=["refund_order"])
        thread = await start_thread(client, customer.headers)
        values = await say(client, customer.headers, thread, assistant, "refund ORD-1")
        [tool] = tool_messages(values)
        assert "not allowed by the approval policy" in tool["content"]
        assert _refunds() == []

    async def test_a_default_to_require_approval_makes_a_read_wait(self, client, make_account, admin):
        customer = await make_account("customer")
        await client.put(
            "/api/v1/tools/lookup_order/approval", json={"mode": "require_approval"}, headers=admin.headers
        )
        turns = [{"tool_calls": [{"name": "lookup_order", "args": {"order_id": "ORD-9"}}]}, {"content": "ok"}]
        assistant = await make_agent(client, None, turns, tools=["lookup_order"])
        thread = await start_thread(client, customer.headers)
        values = await say(client, customer.headers, thread, assistant, "where is ORD-9")
        assert values["__interrupt__"][0]["value"]["action"] == "lookup_order"
        deleted = await client.delete("/api/v1/tools/lookup_order/approval", headers=admin.headers)
        assert deleted.status_code == 204


async def test_arguments_that_violate_the_schema_go_back_to_the_model(client, make_account):
    customer = await make_account("customer")
    turns = [
        {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-1", "amount": "lots"}}]},
        {"content": "sorry"},
    ]
    assistant = await make_agent(client, None, turns, tools=["refund_order"])
    thread = await start_thread(client, customer.headers)
    values = await say(client, customer.headers, thread, assistant, "refund")
    assert not values.get("__interrupt__")
    [tool] = tool_messages(values)
    assert "invalid arguments for refund_order" in tool["content"] and "amount" in tool["content"]
    assert (await client.get("/api/v1/approvals", headers=customer.headers)).json()["items"] == []


async def test_a_tool_the_assistant_does_not_select_is_refused(client, make_account):
    customer = await make_account("customer")
    turns = [{"tool_calls": [{"name": "delete_account", "args": {"email": "a@b.c"}}], "rogue": True}, {"content": "hm"}]
    assistant = await make_agent(client, None, turns, tools=["lookup_order"])
    thread = await start_thread(client, customer.headers)
    [tool] = tool_messages(await say(client, customer.headers, thread, assistant, "delete me"))
    assert "no tool named 'delete_account'" in tool["content"]


@pytest.fixture
def short_ttl(settings):
    settings.tools.approval_ttl_minutes = 1 / 60  # one second
    return settings


async def test_an_approval_nobody_decides_expires_and_the_run_goes_on(short_ttl, client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    thread, approval = await _interrupted_refund(client, customer)
    import asyncio

    for _ in range(100):
        got = (await client.get(f"/api/v1/approvals/{approval['id']}", headers=customer.headers)).json()
        if got["status"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert got["status"] == "expired" and got["decided_via"] == "expiry" and got["decided_by"] is None
    state = await settle(client, customer.headers, thread)
    [tool] = tool_messages(state["values"])
    assert "approval expired" in tool["content"]
    assert _refunds() == []
    late = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert_error(late, 409, "approval_not_pending")


async def test_two_writes_in_one_turn_wait_one_after_the_other_and_each_runs_once(client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("double")
    turns = [
        {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-1", "amount": 1}},
                        {"name": "lookup_order", "args": {"order_id": "ORD-2"}},
                        {"name": "refund_order", "args": {"order_id": "ORD-2", "amount": 2}}]},
        {"content": "Both handled."},
    ]  # fmt: skip
    assistant = await make_agent(client, None, turns, tools=["refund_order", "lookup_order"])
    thread = await start_thread(client, customer.headers)
    values = await say(client, customer.headers, thread, assistant, "refund both")
    assert values["__interrupt__"][0]["value"]["params"]["order_id"] == "ORD-1"
    for expected in ("ORD-1", "ORD-2"):
        [approval] = (await client.get(f"/api/v1/approvals?thread_id={thread}", headers=customer.headers)).json()[
            "items"
        ]
        assert approval["args"]["order_id"] == expected
        await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
        state = await settle(client, customer.headers, thread)
    assert state["status"] == "idle", state
    contents = [m["content"] for m in tool_messages(state["values"])]
    assert (
        contents[0] == "refunded 1 for ORD-1" and "delivered" in contents[1] and contents[2] == "refunded 2 for ORD-2"
    )
    assert [e["order_id"] for e in plugin_module().EXECUTED] == ["ORD-1", "ORD-2"]


async def test_a_decision_for_a_step_no_longer_waiting_resumes_nothing(client, make_account, app):
    import uuid
    from datetime import timedelta

    from loopdesk.runtime.threads.models import Thread
    from loopdesk.tools.approvals.service import open_approval
    from loopdesk.tools.base import ToolSpec

    customer = await make_account("idle")
    created = await client.post("/threads", json={"metadata": {"assistant_id": "agent"}}, headers=customer.headers)
    thread_id = uuid.UUID(created.json()["thread_id"])
    spec = ToolSpec("refund_order", "Refund", {"type": "object"}, "write", "python", "shop")
    async with app.state.database.sessionmaker() as session, session.begin():
        approval = await open_approval(
            session, key=f"{thread_id}:call_1", tool_call_id="call_1", thread_id=thread_id, run_id=None,
            assistant_id=None, requester_id=uuid.UUID(customer.id), spec=spec, args={}, ttl=timedelta(minutes=5),
        )  # fmt: skip
        assert (await session.get(Thread, thread_id)).status == "idle"  # no step waits for this approval
    decided = await client.post(f"/api/v1/approvals/{approval.id}/approve", headers=customer.headers)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert (await client.get(f"/threads/{thread_id}/runs", headers=customer.headers)).json() == []

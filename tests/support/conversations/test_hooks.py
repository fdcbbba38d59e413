"""The tool gate and approvals write the support event stream themselves, with what they record."""

from __future__ import annotations

import uuid

from tests.support.conversations.conftest import conversation, events
from tests.tools.agents import make_agent, say, settle, start_thread
from tests.tools.conftest import plugin_module

LOOKUPS_THEN_REFUND = [
    {
        "tool_calls": [
            {"name": "lookup_order", "args": {"order_id": "ORD-7"}},
            {"name": "lookup_order", "args": {"order_id": "nope"}},
        ]
    },
    {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-7", "amount": 3}}]},
    {"content": "Refunded."},
]


async def _run_until_approval(client, customer):
    assistant = await make_agent(client, None, LOOKUPS_THEN_REFUND, tools=["lookup_order", "refund_order"])
    thread = await start_thread(client, customer.headers)
    values = await say(client, customer.headers, thread, assistant, "refund ORD-7")
    assert values.get("__interrupt__"), values
    [approval] = (await client.get("/api/v1/approvals", headers=customer.headers)).json()["items"]
    return uuid.UUID(thread), approval


async def test_finished_tool_calls_and_an_approved_refund_are_on_the_stream(app, client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    thread, approval = await _run_until_approval(client, customer)
    waiting = await conversation(app, thread)
    assert waiting.status == "waiting_approval" and (waiting.tool_calls, waiting.tool_errors) == (2, 1)

    decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=staff.headers)
    assert decided.status_code == 200, decided.text
    assert (await settle(client, customer.headers, thread))["status"] == "idle"

    stream = await events(app, thread)
    assert [(e.kind, e.tool) for e in stream] == [
        ("tool_call", "lookup_order"),
        ("tool_call", "lookup_order"),
        ("approval_requested", "refund_order"),
        ("approval_decided", "refund_order"),
        ("tool_call", "refund_order"),
    ]
    ok, failed, requested, decision, refund = stream
    assert ok.data["status"] == "succeeded" and ok.data["error"] is False and ok.data["args"] == {"order_id": "ORD-7"}
    assert "delivered" in ok.data["result"] and ok.duration_ms is not None and ok.duration_ms >= 0
    assert failed.data["status"] == "failed" and failed.data["error"] is True and "nope" in failed.data["result"]
    assert requested.data["approval_id"] == approval["id"] and requested.data["args"] == {
        "order_id": "ORD-7",
        "amount": 3,
    }
    assert requested.data["expires_at"] and requested.actor_id is None
    assert decision.data["decision"] == "approved" and decision.data["via"] == "rest"
    assert decision.data["decided_by"] == staff.id and str(decision.actor_id) == staff.id
    assert decision.data["seconds_to_decide"] >= 0
    assert refund.data["status"] == "succeeded" and refund.data["approval_id"] == approval["id"]
    assert refund.data["result"] == "refunded 3 for ORD-7"
    assert all(str(e.user_id) == customer.id for e in stream)

    row = await conversation(app, thread)
    assert row.status == "active" and (row.tool_calls, row.tool_errors) == (3, 1)
    assert len(plugin_module().EXECUTED) == 1


async def test_a_rejected_call_is_recorded_once_as_decided_and_not_run(app, client, make_account):
    plugin_module().EXECUTED.clear()
    customer = await make_account("customer")
    thread, approval = await _run_until_approval(client, customer)
    rejected = await client.post(
        f"/api/v1/approvals/{approval['id']}/reject", json={"message": "no"}, headers=customer.headers
    )
    assert rejected.status_code == 200, rejected.text
    again = await client.post(f"/api/v1/approvals/{approval['id']}/reject", headers=customer.headers)
    assert again.status_code == 409  # a decision that changes nothing records nothing
    await settle(client, customer.headers, thread)

    stream = [e for e in await events(app, thread) if e.tool == "refund_order"]
    assert [(e.kind, e.data.get("decision") or e.data.get("status")) for e in stream] == [
        ("approval_requested", None),
        ("approval_decided", "rejected"),
        ("tool_call", "rejected"),
    ]
    assert "rejected" in stream[2].data["result"] and len(stream[2].data["result"]) <= 500
    assert plugin_module().EXECUTED == []

"""Issue 19's "done when", as one customer's conversation on the e-commerce template: order status in Chinese and in
English (from the backend), a cancel approved by staff (run once), an ambiguous request (one question), a refund
beyond policy (refused, escalated to the inbox); the replay shows it in order and analytics counts it."""

from __future__ import annotations

from tests.support.flow.conftest import new_thread, replies, say, settle


async def test_a_customer_conversation_is_replayed_in_order_and_counted(client, make_account, shop):
    customer = await make_account("li")
    staff = await make_account("desk", role="staff")
    thread = await new_thread(client, customer)

    zh = await say(client, customer, thread, "我的订单A1005到哪了？")
    assert "SF1234567890123" in replies(zh)[-1]["content"]
    en = await say(client, customer, thread, "And where is order A1001?")
    assert "1Z999AA10123456784" in replies(en)[-1]["content"]

    await say(client, customer, thread, "Please cancel my order A1002")
    [approval] = (await client.get(f"/api/v1/approvals?thread_id={thread}", headers=staff.headers)).json()["items"]
    decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=staff.headers)
    assert decided.status_code == 200, decided.text
    await settle(client, customer, thread)
    assert shop.order("A1002")["status"] == "cancelled"
    assert len(shop.rows("SELECT * FROM audit WHERE operation = 'cancelOrder' AND status < 400")) == 1

    vague = await say(client, customer, thread, "I have a problem with my order")
    assert replies(vague)[-1]["content"].endswith("?")
    await say(client, customer, thread, "I want a refund of 899 for order A1003 because it arrived broken")
    assert shop.rows("SELECT * FROM refunds WHERE order_id = 'A1003'") == []
    inbox = (await client.get("/api/v1/support/inbox", headers=staff.headers)).json()["items"]
    assert [e["kind"] for e in inbox if e["thread_id"] == thread] == ["policy"]

    replay = (await client.get(f"/api/v1/replay/{thread}?limit=200", headers=staff.headers)).json()
    timeline = [
        (e["kind"], e["data"].get("role") if e["kind"] == "message" else e["tool"] or e["agent"])
        for e in replay["items"]
    ]
    expected = [
        ("message", "user"), ("handoff", "orders"), ("tool_call", "getOrder"), ("message", "assistant"),
        ("message", "user"), ("handoff", "orders"), ("tool_call", "getOrder"), ("message", "assistant"),
        ("message", "user"), ("handoff", "order_changes"), ("approval_requested", "cancelOrder"),
        ("approval_decided", "cancelOrder"), ("tool_call", "cancelOrder"), ("message", "assistant"),
        ("message", "user"), ("clarification", "supervisor"), ("message", "assistant"),
        ("message", "user"), ("handoff", "refunds"), ("refusal", "createRefund"), ("escalated", None),
        ("message", "assistant"),
    ]  # fmt: skip
    important = {"message", "handoff", "tool_call", "approval_requested", "approval_decided", "clarification"}
    important |= {"refusal", "escalated"}
    assert [t for t in timeline if t[0] in important] == expected, timeline
    stamps = [e["at"] for e in replay["items"]]
    assert stamps == sorted(stamps)
    [decision] = [e for e in replay["items"] if e["kind"] == "approval_decided"]
    assert decision["actor"]["id"] == staff.id and decision["data"]["decision"] == "approved"

    analytics = (await client.get("/api/v1/analytics?range=7d", headers=staff.headers)).json()
    assert analytics["conversations"] == 1
    assert analytics["escalation"] == {"escalated": 1, "rate": 1.0}
    approvals = analytics["approvals"]
    assert (approvals["requested"], approvals["approved"], approvals["rejected"]) == (1, 1, 0)
    assert approvals["rate"] == 1.0
    tools = {t["tool"]: t for t in analytics["tools"]["per_tool"]}
    assert tools["getOrder"]["succeeded"] == 2 and tools["cancelOrder"]["succeeded"] == 1
    assert "createRefund" not in tools  # refused before it reached the tool: no call
    agents = {a["agent"]: a["handoffs"] for a in analytics["agents"]}
    assert agents == {"orders": 2, "order_changes": 1, "refunds": 1}
    # With people now, not closed: no outcome counted yet, and nothing counted as resolved.
    resolution = analytics["resolution"]
    assert (resolution["closed"], resolution["resolved_confirmed"], resolution["resolved_assumed"]) == (0, 0, 0)
    assert resolution["rate"] is None and analytics["cost"]["resolved"] == 0

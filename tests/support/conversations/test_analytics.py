"""Analytics over a planted set of conversations: every figure checked against the hand count below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import assert_error
from tests.support.conversations.conftest import new_thread, record

USER, ANSWER = {"role": "user"}, {"role": "assistant"}


def _decided(approval: str, decision: str, seconds: float, via: str = "rest") -> tuple:
    data = {"approval_id": approval, "decision": decision, "seconds_to_decide": seconds, "via": via}
    return ("approval_decided", {"data": data})


def _tool(name: str, status: str) -> tuple:
    return ("tool_call", {"tool": name, "data": {"status": status}})


def _answer(tokens: int, cost: float) -> tuple:
    return ("message", {"data": ANSWER, "tokens": tokens, "cost": cost})


REQUESTED = ("approval_requested", {"data": {}})
CONVERSATIONS = {
    "t1": [("message", {"data": USER}), ("intent", {"intent": "order_status"}), ("handoff", {"agent": "orders"}),
           _tool("lookup_order", "succeeded"), _answer(100, 0.01),
           ("resolved", {"data": {"resolution": "resolved_confirmed"}}), ("csat", {"data": {"score": 5}})],
    "t2": [("message", {"data": USER}), ("intent", {"intent": "order_status"}), ("handoff", {"agent": "orders"}),
           _tool("lookup_order", "failed"), _answer(50, 0.005),
           ("resolved", {"data": {"resolution": "resolved_assumed"}})],
    "t3": [("message", {"data": USER}), ("intent", {"intent": "refund"}), ("handoff", {"agent": "billing"}),
           REQUESTED, _decided("a1", "rejected", 30), _tool("refund_order", "rejected"), ("escalated", {}),
           _answer(200, 0.02)],
    "t4": [("message", {"data": USER}), ("intent", {"intent": "cancel_order"}), ("handoff", {"agent": "orders"}),
           REQUESTED, _decided("a2", "approved", 10), _tool("cancel_order", "succeeded"), _answer(20, 0.002),
           ("csat", {"data": {"score": 3}}), ("resolved", {"data": {"resolution": "abandoned"}})],
    "t5": [("message", {"data": USER}), ("intent", {"intent": "cancel_order"}),
           *[("intent", {"intent": f"x{n:02d}"}) for n in range(10)],
           REQUESTED, _decided("a3", "expired", 1800), REQUESTED, _decided("a4", "edited", 50),
           _tool("cancel_order", "succeeded"), REQUESTED, _decided("a5", "approved", 20),
           _tool("refund_order", "failed"), REQUESTED, _decided("a7", "rejected", 5, via="superseded")],
    "t7": [("message", {"data": USER}), ("escalated", {}), ("resolved", {"data": {"resolution": "escalated"}})],
    # Ten days ago: only in the 30-day figures.
    "t6": [("message", {"data": USER}), ("intent", {"intent": "refund"}), ("handoff", {"agent": "billing"}),
           _tool("lookup_order", "succeeded"), REQUESTED, _decided("a6", "approved", 100), _answer(1000, 1.0),
           ("resolved", {"data": {"resolution": "resolved_confirmed"}}), ("csat", {"data": {"score": 1}})],
}  # fmt: skip


@pytest.fixture
async def staff(app, client, make_account):
    customer = await make_account("customer")
    now = datetime.now(UTC)
    for name, steps in CONVERSATIONS.items():
        thread = await new_thread(client, customer)
        start = now - (timedelta(days=10) if name == "t6" else timedelta(hours=1))
        for offset, (kind, fields) in enumerate(steps):
            await record(app, thread, kind, at=start + timedelta(seconds=offset), **fields)
    return await make_account("staff", role="staff")


async def _analytics(client, account, range_: str) -> dict:
    response = await client.get("/api/v1/analytics", params={"range": range_}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_last_seven_days_count_as_planted(client, staff):
    report = await _analytics(client, staff, "7d")
    assert report["range"] == "7d" and report["conversations"] == 6
    assert report["resolution"] == {
        "closed": 4,
        "resolved_confirmed": 1,
        "resolved_assumed": 1,
        "escalated": 1,
        "abandoned": 1,
        "rate": 0.5,
        "confirmed_rate": 0.25,
    }
    assert report["escalation"] == {"escalated": 2, "rate": pytest.approx(2 / 6)}
    assert report["approvals"] == {
        "requested": 6,
        "approved": 2,
        "edited": 1,
        "rejected": 1,
        "expired": 1,
        "withdrawn": 1,
        "rate": 0.75,
        # of 10, 20, 30 and 50 s: neither the expiry nor the withdrawal was anyone's decision
        "seconds_to_decide": {"median": 25.0, "p90": pytest.approx(44.0)},
    }
    assert report["agents"] == [{"agent": "orders", "handoffs": 3}, {"agent": "billing", "handoffs": 1}]
    tools = report["tools"]
    assert (tools["calls"], tools["succeeded"], tools["failed"], tools["not_run"]) == (6, 3, 2, 1)
    assert tools["success_rate"] == 0.6
    assert tools["per_tool"] == [
        {"tool": "cancel_order", "calls": 2, "succeeded": 2, "failed": 0, "not_run": 0, "success_rate": 1.0},
        {"tool": "lookup_order", "calls": 2, "succeeded": 1, "failed": 1, "not_run": 0, "success_rate": 0.5},
        {"tool": "refund_order", "calls": 2, "succeeded": 0, "failed": 1, "not_run": 1, "success_rate": 0.0},
    ]
    assert report["cost"] == {
        "tokens": 370,
        "cost": pytest.approx(0.037),
        "resolved": 2,
        "tokens_per_resolved": 185.0,
        "cost_per_resolved": pytest.approx(0.0185),
    }
    assert report["intents"] == [
        {"intent": "cancel_order", "count": 2},
        {"intent": "order_status", "count": 2},
        {"intent": "refund", "count": 1},
        *[{"intent": f"x{n:02d}", "count": 1} for n in range(7)],
    ]
    assert report["csat"] == {"average": 4.0, "count": 2}


async def test_thirty_days_take_in_the_older_conversation(client, staff):
    report = await _analytics(client, staff, "30d")
    assert report["conversations"] == 7
    resolution = report["resolution"]
    assert (resolution["closed"], resolution["resolved_confirmed"], resolution["rate"]) == (5, 2, 0.6)
    assert report["agents"] == [{"agent": "orders", "handoffs": 3}, {"agent": "billing", "handoffs": 2}]
    assert report["approvals"]["approved"] == 3 and report["approvals"]["seconds_to_decide"]["median"] == 30.0
    assert report["cost"]["tokens"] == 1370 and report["cost"]["tokens_per_resolved"] == pytest.approx(1370 / 3)
    assert report["csat"] == {"average": 3.0, "count": 3}


async def test_only_staff_read_analytics_and_only_for_7d_or_30d(client, make_account, staff):
    customer = await make_account("reader")
    assert_error(await client.get("/api/v1/analytics", headers=customer.headers), 403)
    assert_error(await client.get("/api/v1/analytics", params={"range": "90d"}, headers=staff.headers), 422)
    assert (await client.get("/api/v1/analytics", headers=staff.headers)).json()["range"] == "7d"
    feedback = await client.get("/api/v1/analytics/feedback", headers=staff.headers)
    assert feedback.status_code == 200 and "conversations" not in feedback.json()

"""Approvals over the WebSocket: the interrupt frame carries the approval, `interrupt_response`
decides it (recorded and audited like a REST decision), and an expiry reaches the socket."""

from __future__ import annotations

from tests.realtime.wsclient import WS
from tests.tools.agents import make_agent, start_thread
from tests.tools.conftest import plugin_module

REFUND = [
    {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-3", "amount": 7}}]},
    {"content": "Refund sent."},
]


async def _interrupt(server_url, client, account):
    assistant = await make_agent(client, None, REFUND, tools=["refund_order"])
    thread = await start_thread(client, account.headers)
    ws = await WS.open(server_url, account.token)
    await ws.request({"type": "message", "thread_id": thread, "assistant_id": assistant, "content": "refund ORD-3"})
    frames = await ws.until("message_complete")
    interrupt = next(f for f in frames if f["type"] == "interrupt")
    return ws, thread, interrupt


async def test_approving_over_the_websocket_runs_the_tool_and_records_the_decision(server_url, client, make_account):
    plugin_module().EXECUTED.clear()
    account = await make_account("ws-approver")
    ws, thread, interrupt = await _interrupt(server_url, client, account)
    assert interrupt["action"] == "refund_order" and interrupt["params"] == {"order_id": "ORD-3", "amount": 7}
    assert interrupt["expires_at"]
    [approval] = (await client.get("/api/v1/approvals", headers=account.headers)).json()["items"]

    ack = await ws.request({"type": "interrupt_response", "thread_id": thread, "approved": True})
    assert ack["type"] == "ack" and ack["run_id"], ack
    frames = await ws.until("message_complete", run_id=ack["run_id"])
    result = next(f for f in frames if f["type"] == "tool_result")
    assert result["result"] == "refunded 7 for ORD-3"
    await ws.close()

    decided = (await client.get(f"/api/v1/approvals/{approval['id']}", headers=account.headers)).json()
    assert (decided["status"], decided["decided_via"], decided["decided_by"]) == ("approved", "ws", account.id)
    assert [e["order_id"] for e in plugin_module().EXECUTED] == ["ORD-3"]


async def test_a_second_decision_over_the_websocket_is_an_error_frame(server_url, client, make_account):
    account = await make_account("ws-twice")
    ws, thread, interrupt = await _interrupt(server_url, client, account)
    [approval] = (await client.get("/api/v1/approvals", headers=account.headers)).json()["items"]
    await client.post(f"/api/v1/approvals/{approval['id']}/reject", headers=account.headers)
    frame = await ws.request(
        {"type": "interrupt_response", "thread_id": thread, "interrupt_id": interrupt["interrupt_id"], "approved": True}
    )
    # Either the thread already moved on, or the approval is no longer pending: never a second execution.
    assert frame["type"] == "error" and frame["code"] in ("approval_not_pending", "thread_not_interrupted"), frame
    await ws.close()


async def test_an_expired_approval_reaches_the_socket(settings, server_url, client, make_account):
    settings.tools.approval_ttl_minutes = 1 / 60
    account = await make_account("ws-expiry")
    ws, thread, _ = await _interrupt(server_url, client, account)
    await ws.request({"type": "subscribe", "thread_id": thread})
    frames = await ws.until("interrupt_expired", within=30)
    expired = frames[-1]
    assert expired["action"] == "refund_order" and "expired" in expired["message"] and expired["approval_id"]
    await ws.close()

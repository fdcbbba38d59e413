"""People in a support conversation, over the WebSocket protocol as the console uses it: the customer sees the
supervisor's hand-offs and questions as frames; staff are told of an escalation on their own socket, take the
conversation over and reply, and the customer reads the reply in the same stream while the agents stay quiet."""

from __future__ import annotations

from tests.realtime.wsclient import WS
from tests.support.flow.conftest import new_thread


def _tokens(frames: list[dict]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")


async def _support_thread(client, account) -> str:
    created = await client.post("/threads", json={"metadata": {"assistant_id": "support"}}, headers=account.headers)
    assert created.status_code == 200, created.text
    return created.json()["thread_id"]


async def test_the_customer_sees_hand_offs_and_one_question_as_frames(server_url, client, make_account, shop):
    customer = await make_account("alice")
    thread = await _support_thread(client, customer)
    ws = await WS.open(server_url, customer.token)
    await ws.request({"type": "message", "thread_id": thread, "content": "Where is my order A1001?"})
    frames = await ws.until("message_complete")
    [handoff] = [f for f in frames if f["type"] == "handoff"]
    assert handoff["agent"] == "orders" and handoff["intent"] == "order_status"
    assert "1Z999AA10123456784" in _tokens(frames)

    await ws.request({"type": "message", "thread_id": thread, "content": "I have a problem with my order"})
    frames = await ws.until("message_complete")
    [question] = [f for f in frames if f["type"] == "clarification"]
    assert question["message"].endswith("?") and question.get("interrupt_id") is None
    assert not [f for f in frames if f["type"] in ("tool_call", "interrupt")]
    await ws.close()


async def test_staff_take_over_and_reply_in_the_customers_stream(server_url, client, make_account, shop):
    customer = await make_account("wei")
    staff = await make_account("desk", role="staff")
    thread = await _support_thread(client, customer)
    desk = await WS.open(server_url, staff.token)
    phone = await WS.open(server_url, customer.token)

    await phone.request({"type": "message", "thread_id": thread, "content": "I want to talk to a human agent"})
    await phone.until("message_complete")
    told = await desk.until("support_update")
    assert told[-1]["kind"] == "conversation.escalated" and told[-1]["thread_id"] == thread
    escalation_id = told[-1]["escalation_id"]

    taken = await client.post(f"/api/v1/support/escalations/{escalation_id}/take", headers=staff.headers)
    assert taken.status_code == 200 and taken.json()["status"] == "taken"
    # While a person has it, the customer's message goes to them, not to the agents.
    await phone.request({"type": "message", "thread_id": thread, "content": "Where is my order A1003?"})
    frames = await phone.until("message_complete")
    assert not [f for f in frames if f["type"] in ("handoff", "tool_call")]
    relayed = await desk.until("support_update")
    assert relayed[-1]["kind"] == "conversation.message" and "A1003" in relayed[-1]["text"]

    replied = await client.post(
        f"/api/v1/support/conversations/{thread}/reply",
        json={"text": "Hi, I am Dana. Let me check."},
        headers=staff.headers,
    )
    assert replied.status_code == 200, replied.text
    frames = await phone.until("message_complete", run_id=replied.json()["run_id"])
    assert "Hi, I am Dana. Let me check." in _tokens(frames)

    another = await make_account("other")
    refused = await client.post(
        f"/api/v1/support/conversations/{thread}/reply", json={"text": "me too"}, headers=another.headers
    )
    assert refused.status_code == 403
    released = await client.post(
        f"/api/v1/support/escalations/{escalation_id}/release", json={"close": True}, headers=staff.headers
    )
    assert released.status_code == 200 and released.json()["status"] == "closed"
    await desk.close()
    await phone.close()


async def test_a_customer_cannot_escalate_someone_elses_conversation(client, make_account, shop):
    owner, stranger = await make_account("owner"), await make_account("stranger")
    thread = await new_thread(client, owner)
    hidden = await client.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=stranger.headers)
    assert hidden.status_code == 404
    mine = await client.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=owner.headers)
    assert mine.status_code == 200 and mine.json()["kind"] == "requested"

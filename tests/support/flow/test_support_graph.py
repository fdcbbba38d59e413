"""The support supervisor on the e-commerce template: answers from the backend, writes wait for staff, vague
messages get one question, requests beyond policy are refused and handed to people; each checked by the backend's
own database, not by the words of a reply."""

from __future__ import annotations

import httpx

from tests.support.flow.conftest import new_thread, replies, say, settle, tool_calls


async def test_where_is_my_order_is_answered_from_the_backend(client, make_account, shop):
    customer = await make_account("alice")
    thread = await new_thread(client, customer)
    values = await say(client, customer, thread, "Where is my order A1001?")
    assert tool_calls(values) == ["getOrder"]
    answer = replies(values)[-1]
    assert answer["name"] == "orders"
    assert "1Z999AA10123456784" in answer["content"]  # the tracking number the backend holds

    zh = await say(client, customer, thread, "我的订单A1005到哪了？")
    assert tool_calls(zh)[-1] == "getOrder"
    assert "SF1234567890123" in replies(zh)[-1]["content"]


async def test_a_cancel_waits_for_staff_and_runs_once(client, make_account, shop):
    customer = await make_account("alice")
    staff = await make_account("agent", role="staff")
    thread = await new_thread(client, customer)
    values = await say(client, customer, thread, "Please cancel my order A1002")
    assert values.get("__interrupt__"), values
    assert shop.order("A1002")["status"] == "pending"  # nothing happened before the decision

    [approval] = (await client.get("/api/v1/approvals?status=pending", headers=staff.headers)).json()["items"]
    assert approval["tool_name"] == "cancelOrder" and approval["args"]["order_id"] == "A1002"
    refused = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert refused.status_code == 403, refused.text  # a customer never approves their own write
    assert shop.order("A1002")["status"] == "pending"

    decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=staff.headers)
    assert decided.status_code == 200, decided.text
    state = await settle(client, customer, thread)
    assert state["status"] == "idle"
    assert shop.order("A1002")["status"] == "cancelled"
    assert len(shop.rows("SELECT * FROM audit WHERE operation = 'cancelOrder'")) == 1


async def test_an_ambiguous_message_gets_one_question_and_no_action(client, make_account, shop):
    customer = await make_account("alice")
    thread = await new_thread(client, customer)
    values = await say(client, customer, thread, "I have a problem with my order")
    assert tool_calls(values) == []
    [question] = replies(values)
    assert question["name"] == "supervisor" and question["content"].endswith("?")
    assert shop.rows("SELECT * FROM audit") == []


async def test_a_refund_beyond_policy_is_refused_and_handed_to_staff(client, make_account, shop):
    customer = await make_account("wei")
    staff = await make_account("agent", role="staff")
    thread = await new_thread(client, customer)
    values = await say(client, customer, thread, "I want a refund of 899 for order A1003 because it arrived broken")
    assert not values.get("__interrupt__")
    assert replies(values)[-1]["name"] == "supervisor"
    assert shop.rows("SELECT * FROM refunds WHERE order_id = 'A1003'") == []
    inbox = (await client.get("/api/v1/support/inbox", headers=staff.headers)).json()
    [escalation] = [e for e in inbox["items"] if e["thread_id"] == thread]
    assert escalation["kind"] == "policy" and "200" in escalation["reason"]
    pending = (await client.get("/api/v1/approvals?status=pending", headers=staff.headers)).json()["items"]
    assert [a for a in pending if a["thread_id"] == thread] == []


async def test_an_out_of_scope_question_is_declined_without_a_tool(client, make_account, shop):
    customer = await make_account("alice")
    thread = await new_thread(client, customer)
    values = await say(client, customer, thread, "What's the capital of France?")
    assert tool_calls(values) == []
    assert replies(values)[-1]["name"] == "supervisor"
    assert shop.rows("SELECT * FROM audit") == []


async def test_a_write_the_backend_fails_becomes_a_bug_report_with_the_transcript(client, make_account, shop):
    customer = await make_account("alice")
    staff = await make_account("agent", role="staff")
    async with httpx.AsyncClient(base_url=shop.url) as demo:
        armed = await demo.post("/_faults", json={"operation_id": "cancelOrder", "status": 500})
        assert armed.status_code == 200, armed.text
    thread = await new_thread(client, customer)
    await say(client, customer, thread, "Please cancel my order A1002")
    [approval] = (await client.get(f"/api/v1/approvals?thread_id={thread}", headers=staff.headers)).json()["items"]
    assert (await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=staff.headers)).status_code == 200
    await settle(client, customer, thread)
    assert shop.order("A1002")["status"] == "pending"

    inbox = (await client.get("/api/v1/support/inbox", headers=staff.headers)).json()["items"]
    [escalation] = [e for e in inbox if e["thread_id"] == thread]
    assert escalation["kind"] == "error" and escalation["task_id"] is not None
    task = (await client.get(f"/api/v1/tasks/{escalation['task_id']}", headers=customer.headers)).json()
    assert task["issue_type"] == "bug" and "cancelOrder" in task["title"]  # the customer's own report
    files = (await client.get(f"/api/v1/tasks/{task['id']}/attachments", headers=customer.headers)).json()
    assert [f["filename"] for f in files] == ["transcript.json"]

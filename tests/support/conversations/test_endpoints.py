"""The conversations list and record, the customer's resolve and CSAT, and replay, each scoped to its caller."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import assert_error
from tests.support.conversations.conftest import new_thread, record

USER, ANSWER = {"role": "user"}, {"role": "assistant"}


async def _started(app, client, account, *, agent: str | None = None, at: datetime | None = None) -> uuid.UUID:
    thread = await new_thread(client, account)
    await record(app, thread, "message", data=USER, at=at)
    if agent is not None:
        await record(app, thread, "handoff", agent=agent, at=at)
    return thread


async def test_customers_list_their_own_conversations_and_staff_everyones(app, client, make_account):
    alice, bob = await make_account("alice"), await make_account("bob")
    staff = await make_account("staff", role="staff")
    mine = {await _started(app, client, alice) for _ in range(2)}
    theirs = await _started(app, client, bob)

    listed = (await client.get("/api/v1/conversations", headers=alice.headers)).json()
    assert {uuid.UUID(item["thread_id"]) for item in listed["items"]} == mine and listed["total"] == 2
    assert listed["items"][0]["status"] == "active" and listed["items"][0]["user_id"] == alice.id
    everyone = (await client.get("/api/v1/conversations", headers=staff.headers)).json()
    assert everyone["total"] == 3
    only_bob = await client.get("/api/v1/conversations", params={"user_id": bob.id}, headers=staff.headers)
    assert [item["thread_id"] for item in only_bob.json()["items"]] == [str(theirs)]
    refused = await client.get("/api/v1/conversations", params={"user_id": bob.id}, headers=alice.headers)
    assert_error(refused, 403, "forbidden")
    own = await client.get("/api/v1/conversations", params={"user_id": alice.id}, headers=alice.headers)
    assert own.json()["total"] == 2


async def test_the_list_filters_and_pages(app, client, make_account):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    old = datetime.now(UTC) - timedelta(days=3)
    orders = [await _started(app, client, customer, agent="orders") for _ in range(3)]
    billing = await _started(app, client, customer, agent="billing", at=old)
    await record(app, orders[0], "escalated")
    await record(app, orders[1], "resolved", data={"resolution": "resolved_confirmed"})

    async def listed(**params):
        response = await client.get("/api/v1/conversations", params=params, headers=staff.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def ids(page):
        return {uuid.UUID(item["thread_id"]) for item in page["items"]}

    assert ids(await listed(agent="orders")) == set(orders)
    assert ids(await listed(agent="billing")) == {billing}
    assert ids(await listed(status="escalated")) == {orders[0]}
    assert ids(await listed(resolution="resolved_confirmed")) == {orders[1]}
    assert ids(await listed(status="closed", agent="billing")) == set()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert ids(await listed(since=yesterday)) == set(orders)
    assert ids(await listed(until=yesterday)) == {billing}

    first, second = await listed(limit=3, offset=0), await listed(limit=3, offset=3)
    assert (first["total"], len(first["items"]), len(second["items"])) == (4, 3, 1)
    assert ids(first) | ids(second) == {*orders, billing}
    assert second["items"][0]["thread_id"] == str(billing)  # least recently active last
    assert_error(await client.get("/api/v1/conversations", params={"status": "open"}, headers=staff.headers), 422)


async def test_one_record_is_read_by_its_customer_and_staff_only(app, client, make_account):
    customer, other = await make_account("customer"), await make_account("other")
    staff = await make_account("staff", role="staff")
    thread = await _started(app, client, customer, agent="orders")
    record_ = (await client.get(f"/api/v1/conversations/{thread}", headers=customer.headers)).json()
    assert record_["agents_used"] == ["orders"] and record_["messages"] == 1 and record_["cost"] == 0
    assert (await client.get(f"/api/v1/conversations/{thread}", headers=staff.headers)).status_code == 200
    hidden = await client.get(f"/api/v1/conversations/{thread}", headers=other.headers)
    assert_error(hidden, 404, "conversation_not_found")
    unknown = await client.get(f"/api/v1/conversations/{uuid.uuid4()}", headers=staff.headers)
    assert_error(unknown, 404, "conversation_not_found")


async def test_only_the_customer_resolves_and_rates(app, client, make_account):
    customer, other = await make_account("customer"), await make_account("other")
    staff = await make_account("staff", role="staff")
    thread = await _started(app, client, customer)
    await record(app, thread, "message", data=ANSWER)

    for account, status in ((other, 404), (staff, 403)):
        assert_error(await client.post(f"/api/v1/conversations/{thread}/resolve", headers=account.headers), status)
        rated = await client.post(f"/api/v1/conversations/{thread}/csat", json={"score": 1}, headers=account.headers)
        assert_error(rated, status)

    resolved = await client.post(
        f"/api/v1/conversations/{thread}/resolve", json={"csat": 4, "comment": "quick"}, headers=customer.headers
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolution"], body["csat"], body["csat_comment"]) == (
        "closed",
        "resolved_confirmed",
        4,
        "quick",
    )
    assert body["resolved_at"] is not None

    later = await client.post(f"/api/v1/conversations/{thread}/csat", json={"score": 5}, headers=customer.headers)
    assert (later.json()["csat"], later.json()["csat_comment"], later.json()["status"]) == (5, None, "closed")
    bad = await client.post(f"/api/v1/conversations/{thread}/csat", json={"score": 6}, headers=customer.headers)
    assert_error(bad, 422, "validation_error")

    bare = await _started(app, client, customer)
    without_body = await client.post(f"/api/v1/conversations/{bare}/resolve", headers=customer.headers)
    assert without_body.json()["resolution"] == "resolved_confirmed" and without_body.json()["csat"] is None


async def test_replay_is_the_stream_in_order_paged_by_cursor(app, client, make_account):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    thread = await new_thread(client, customer)
    await record(app, thread, "message", data={"role": "user", "text": "cancel ORD-1"}, actor_id=uuid.UUID(customer.id))
    await record(app, thread, "intent", intent="cancel_order", data={"confidence": 0.93})
    await record(app, thread, "handoff", agent="orders")
    await record(app, thread, "tool_call", tool="cancel_order", data={"status": "succeeded"}, tokens=10, cost=0.5)
    await record(app, thread, "message", data={"role": "staff", "text": "done"}, actor_id=uuid.UUID(staff.id))

    first = await client.get(f"/api/v1/replay/{thread}", params={"limit": 3}, headers=customer.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["kind"] for item in page["items"]] == ["message", "intent", "handoff"]
    assert page["items"][0]["actor"] == {"id": customer.id, "display_name": "customer"}
    assert page["items"][1]["intent"] == "cancel_order" and page["items"][1]["actor"] is None
    assert page["items"][2]["agent"] == "orders"
    assert page["next_cursor"] is not None

    rest = await client.get(
        f"/api/v1/replay/{thread}", params={"limit": 3, "cursor": page["next_cursor"]}, headers=staff.headers
    )
    tail = rest.json()
    assert [item["kind"] for item in tail["items"]] == ["tool_call", "message"] and tail["next_cursor"] is None
    assert tail["items"][0]["tool"] == "cancel_order" and tail["items"][0]["tokens"] == 10
    assert tail["items"][0]["cost"] == 0.5 and tail["items"][0]["data"] == {"status": "succeeded"}
    assert tail["items"][1]["actor"] == {"id": staff.id, "display_name": "staff"}
    ids = [item["id"] for item in page["items"] + tail["items"]]
    assert ids == sorted(ids)
    stamps = [item["at"] for item in page["items"] + tail["items"]]
    assert stamps == sorted(stamps)


async def test_another_customer_gets_404_for_a_replay(app, client, make_account):
    customer, other = await make_account("customer"), await make_account("other")
    thread = await _started(app, client, customer)
    assert_error(await client.get(f"/api/v1/replay/{thread}", headers=other.headers), 404, "conversation_not_found")
    assert_error(await client.get(f"/api/v1/replay/{uuid.uuid4()}", headers=customer.headers), 404)
    assert (await client.get(f"/api/v1/replay/{thread}")).status_code == 401


async def test_the_record_names_its_live_escalation_until_it_is_closed(app, client, make_account):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    thread, quiet = await _started(app, client, customer), await _started(app, client, customer)

    async def escalation_id(account) -> str | None:
        response = await client.get(f"/api/v1/conversations/{thread}", headers=account.headers)
        assert response.status_code == 200, response.text
        return response.json()["escalation_id"]

    assert await escalation_id(staff) is None
    escalated = await client.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=customer.headers)
    live = escalated.json()["id"]
    assert await escalation_id(staff) == live and await escalation_id(customer) == live
    listed = (await client.get("/api/v1/conversations", headers=staff.headers)).json()["items"]
    assert {item["thread_id"]: item["escalation_id"] for item in listed} == {str(thread): live, str(quiet): None}

    taken = await client.post(f"/api/v1/support/escalations/{live}/take", headers=staff.headers)
    assert taken.status_code == 200 and await escalation_id(staff) == live  # taken is still live
    released = await client.post(
        f"/api/v1/support/escalations/{live}/release", json={"close": True}, headers=staff.headers
    )
    assert released.json()["status"] == "closed" and await escalation_id(staff) is None
    again = await client.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=staff.headers)
    assert again.json()["id"] != live and await escalation_id(customer) == again.json()["id"]

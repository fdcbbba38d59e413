"""record_event: one event appended and the conversation's record moved with it, in the caller's transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from loopdesk.support.conversations.models import Conversation, SupportEvent
from loopdesk.support.conversations.service import record_event
from tests.support.conversations.conftest import conversation, events, new_thread, record


async def test_the_first_event_creates_the_record_for_the_threads_customer(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    event_id = await record(app, thread, "message", data={"role": "user", "text": "where is my order?"})
    row = await conversation(app, thread)
    assert isinstance(event_id, int)
    assert str(row.user_id) == customer.id and row.status == "active" and row.resolution is None
    assert row.messages == 1 and row.last_customer_at == row.started_at == row.last_activity_at
    [event] = await events(app, thread)
    assert event.id == event_id and str(event.user_id) == customer.id and event.actor_id is None


async def test_counters_add_up_and_lists_keep_each_name_once(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await record(app, thread, "message", data={"role": "user"})
    await record(app, thread, "intent", intent="order_status")
    await record(app, thread, "intent", intent="order_status")
    await record(app, thread, "intent", intent="cancel_order")
    await record(app, thread, "handoff", agent="orders")
    await record(app, thread, "handoff", agent="orders")
    await record(app, thread, "handoff", agent="billing")
    await record(app, thread, "tool_call", tool="lookup_order", data={"status": "succeeded"})
    await record(app, thread, "tool_call", tool="lookup_order", data={"status": "failed"})
    await record(app, thread, "tool_call", tool="refund_order", data={"status": "denied"})
    await record(app, thread, "message", data={"role": "assistant"}, tokens=120, cost=0.0015)
    await record(app, thread, "message", data={"role": "staff"}, tokens=0, cost=0)
    await record(app, thread, "message", data={"role": "assistant"}, tokens=30, cost="0.000250")
    row = await conversation(app, thread)
    assert row.intents == ["order_status", "cancel_order"]
    assert row.agents_used == ["orders", "billing"]
    assert (row.messages, row.tool_calls, row.tool_errors) == (4, 3, 2)
    assert row.tokens == 150 and row.cost == Decimal("0.001750")


async def test_status_follows_approvals_escalation_takeover_and_release(app, client, make_account):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    thread = await new_thread(client, customer)
    steps = [
        ("approval_requested", {}, "waiting_approval"),
        ("approval_decided", {"actor_id": uuid.UUID(staff.id)}, "active"),
        ("escalated", {}, "escalated"),
        ("approval_requested", {}, "escalated"),  # the agent's approval does not hide a person's case
        ("takeover", {"actor_id": uuid.UUID(staff.id)}, "human"),
        ("released", {"actor_id": uuid.UUID(staff.id)}, "active"),
    ]
    seen = []
    for kind, fields, _ in steps:
        await record(app, thread, kind, **fields)
        row = await conversation(app, thread)
        seen.append(row.status)
        if kind == "takeover":
            assert str(row.taken_by) == staff.id
    assert seen == [status for *_, status in steps]
    row = await conversation(app, thread)
    assert row.resolution == "escalated" and row.escalated_at is not None and row.taken_by is None


async def test_a_customer_message_reopens_a_closed_conversation(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await record(app, thread, "message", data={"role": "user"})
    await record(app, thread, "resolved", data={"resolution": "resolved_assumed"})
    closed = await conversation(app, thread)
    assert (closed.status, closed.resolution) == ("closed", "resolved_assumed") and closed.resolved_at is not None
    await record(app, thread, "message", data={"role": "assistant"})  # only the customer reopens it
    assert (await conversation(app, thread)).status == "closed"
    await record(app, thread, "message", data={"role": "user"})
    reopened = await conversation(app, thread)
    assert (reopened.status, reopened.resolution, reopened.resolved_at) == ("active", None, None)


async def test_a_resolution_never_hides_an_escalation(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await record(app, thread, "escalated")
    await record(app, thread, "resolved", data={"resolution": "resolved_confirmed"})
    row = await conversation(app, thread)
    assert (row.status, row.resolution) == ("closed", "escalated")


async def test_the_event_and_the_record_roll_back_with_the_callers_transaction(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    with pytest.raises(RuntimeError):
        async with app.state.database.sessionmaker() as session, session.begin():
            await record_event(session, thread_id=thread, kind="message", data={"role": "user"})
            raise RuntimeError("the work being recorded failed")
    async with app.state.database.sessionmaker() as session:
        assert await session.get(Conversation, thread) is None
        assert await session.scalar(select(func.count()).select_from(SupportEvent)) == 0


async def test_an_event_for_a_thread_that_does_not_exist_is_not_recorded(app):
    assert await record(app, uuid.uuid4(), "message", data={"role": "user"}) is None

"""The quiet-period sweep closes each conversation with the outcome its stream shows (the clock is moved by
writing the events two hours in the past)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from loopdesk.support.conversations.models import Escalation
from loopdesk.support.conversations.sweep import close_quiet_conversations
from tests.support.conversations.conftest import conversation, events, new_thread, record

LONG_AGO = datetime.now(UTC) - timedelta(hours=2)
USER, ANSWER = {"role": "user"}, {"role": "assistant"}


async def _sweep(app) -> dict[str, int]:
    return await close_quiet_conversations(app.state.database, quiet_minutes=30)


async def _planted(app, thread, *steps) -> None:
    for offset, (kind, fields) in enumerate(steps):
        await record(app, thread, kind, at=LONG_AGO + timedelta(seconds=offset), **fields)


OUTCOMES = {
    "answered": ([("message", {"data": USER}), ("message", {"data": ANSWER})], "resolved_assumed", None),
    "clarifying question": (
        [("message", {"data": USER}), ("clarification", {}), ("message", {"data": ANSWER})],
        "abandoned",
        "clarification",
    ),
    "refusal": ([("message", {"data": USER}), ("refusal", {}), ("message", {"data": ANSWER})], "abandoned", "refusal"),
    "pending approval": (
        [("message", {"data": USER}), ("approval_requested", {"data": {"approval_id": "a1"}})],
        "abandoned",
        "approval_pending",
    ),
    "expired approval": (
        [
            ("message", {"data": USER}),
            ("approval_requested", {"data": {"approval_id": "a1"}}),
            ("approval_decided", {"data": {"approval_id": "a1", "decision": "expired"}}),
            ("message", {"data": ANSWER}),
        ],
        "abandoned",
        "approval_expired",
    ),
    "failed tool call": (
        [
            ("message", {"data": USER}),
            ("tool_call", {"tool": "lookup_order", "data": {"status": "failed"}}),
            ("message", {"data": ANSWER}),
        ],
        "abandoned",
        "tool_error",
    ),
    "no answer": ([("message", {"data": ANSWER}), ("message", {"data": USER})], "abandoned", "unanswered"),
    "clarified, then answered": (
        [
            ("message", {"data": USER}),
            ("clarification", {}),
            ("message", {"data": USER}),
            ("message", {"data": ANSWER}),
        ],
        "resolved_assumed",
        None,
    ),
    "approval decided": (
        [
            ("message", {"data": USER}),
            ("approval_requested", {"data": {"approval_id": "a1"}}),
            ("approval_decided", {"data": {"approval_id": "a1", "decision": "approved"}}),
            ("tool_call", {"tool": "refund_order", "data": {"status": "succeeded"}}),
            ("message", {"data": ANSWER}),
        ],
        "resolved_assumed",
        None,
    ),
}


@pytest.mark.parametrize("case", OUTCOMES, ids=list(OUTCOMES))
async def test_a_quiet_conversation_closes_with_what_its_stream_shows(app, client, make_account, case):
    steps, resolution, left_open = OUTCOMES[case]
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await _planted(app, thread, *steps)

    assert await _sweep(app) == {resolution: 1}
    row = await conversation(app, thread)
    assert (row.status, row.resolution) == ("closed", resolution) and row.resolved_at > LONG_AGO
    closing = (await events(app, thread))[-1]
    assert closing.kind == "resolved" and closing.data["resolution"] == resolution
    assert closing.data.get("left_open") == left_open and closing.data["by"] == "sweep"
    assert await _sweep(app) == {}  # closed once


async def test_an_escalated_conversation_closes_as_escalated_once_its_escalation_is_closed(app, client, make_account):
    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await _planted(app, thread, ("message", {"data": USER}), ("escalated", {}), ("message", {"data": ANSWER}))
    async with app.state.database.sessionmaker() as session, session.begin():
        escalation = Escalation(thread_id=thread, reason="refund over the limit", kind="policy", status="open")
        session.add(escalation)
    assert await _sweep(app) == {}  # a person still has it
    assert (await conversation(app, thread)).status == "escalated"

    async with app.state.database.sessionmaker() as session, session.begin():
        (await session.get(Escalation, escalation.id)).status = "closed"
    assert await _sweep(app) == {"escalated": 1}
    row = await conversation(app, thread)
    assert (row.status, row.resolution) == ("closed", "escalated")


async def test_recent_and_taken_over_conversations_stay_open(app, client, make_account):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    recent, taken = await new_thread(client, customer), await new_thread(client, customer)
    await record(app, recent, "message", data=USER)
    await record(app, recent, "message", data=ANSWER)
    await _planted(app, taken, ("message", {"data": USER}), ("takeover", {"actor_id": uuid.UUID(staff.id)}))

    assert await _sweep(app) == {}
    assert (await conversation(app, recent)).status == "active"
    assert (await conversation(app, taken)).status == "human"
    # Minutes are the setting's: with a quiet period of zero the recent one is due too.
    assert await close_quiet_conversations(app.state.database, quiet_minutes=0) == {"resolved_assumed": 1}


async def test_the_worker_sweeps_every_minute_with_the_configured_quiet_period(app, client, make_account, settings):
    from loopdesk.runtime.graphs import GraphRegistry
    from loopdesk.runtime.worker import QueueWorker
    from loopdesk.support.tasks import SUPPORT_SWEEP_TASK

    customer = await make_account("customer")
    thread = await new_thread(client, customer)
    await _planted(app, thread, ("message", {"data": USER}), ("message", {"data": ANSWER}))
    worker = QueueWorker.build(
        settings.database.database_url.get_secret_value(), settings, app.state.database, None, GraphRegistry()
    )  # type: ignore[arg-type]
    periodic = [p for p in worker.app.periodic_registry.periodic_tasks.values() if p.task.name == SUPPORT_SWEEP_TASK]
    assert [p.cron for p in periodic] == ["* * * * *"]

    await worker.app.tasks[SUPPORT_SWEEP_TASK].func(timestamp=0)  # the conftest's quiet period: 30 days
    assert (await conversation(app, thread)).status == "active"
    settings.support.support_quiet_minutes = 60
    await worker.app.tasks[SUPPORT_SWEEP_TASK].func(timestamp=0)
    assert (await conversation(app, thread)).resolution == "resolved_assumed"

"""The live side of the event log: pushed events are taken only when they follow on from the reader's
position; a gap, an overflow or a notification of unseen events sends the reader to the durable log."""

import uuid

from langgraph_sdk import get_client

from loopdesk.runtime.runs.events import (
    Event,
    EventBus,
    Waiter,
    append_events,
    dumps,
    final_payload,
    next_events,
)
from loopdesk.runtime.runs.redis_fanout import decode, encode


def _events(first: int, last: int) -> list[Event]:
    return [Event(seq, "custom", f'{{"n": {seq}}}') for seq in range(first, last + 1)]


def test_a_fresh_waiter_reads_the_log_first():
    assert Waiter().take(0) is None


def test_pushed_events_that_follow_on_are_taken_in_order_and_once():
    waiter = Waiter(capacity=10)
    waiter.dirty = False
    waiter.push(_events(1, 3))
    assert [e.seq for e in waiter.take(0)] == [1, 2, 3]
    assert waiter.take(3) == []
    waiter.push(_events(2, 5))  # overlapping delivery (two transports): the known ones are skipped
    assert [e.seq for e in waiter.take(3)] == [4, 5]


def test_a_gap_an_overflow_or_an_unseen_notification_means_read_the_log():
    waiter = Waiter(capacity=4)
    waiter.dirty = False
    waiter.push(_events(5, 6))
    assert waiter.take(3) is None  # seq 4 missing
    waiter.push(_events(4, 8))  # 5 events > capacity 4
    assert not waiter.pending and waiter.overflows == 1
    assert waiter.take(3) is None
    assert waiter.take(3) == []  # read once, then nothing new
    waiter.notified = 9
    assert waiter.take(8) is None


def test_redis_batches_round_trip_without_reserialising():
    events = [Event(1, "messages", '[{"content": "h\\u00e9"}, {"node": "a"}]'), Event(2, "end", "null")]
    decoded = decode(encode(events))
    assert [(e.seq, e.event) for e in decoded] == [(1, "messages"), (2, "end")]
    assert [e.data for e in decoded] == ['[{"content":"hé"},{"node":"a"}]', "null"]


async def test_a_reader_that_overflowed_catches_up_from_the_log_without_loss(app):
    """A reader that falls behind a burst: its buffer overflows, it reads the log, gets every event once."""
    pool = app.state.persistence.pool
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT id FROM users LIMIT 1")).fetchone()
        thread_id, run_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO threads (thread_id, owner_id, metadata, status, interrupts)"
            " VALUES (%s, %s, '{}', 'busy', '{}')",
            (thread_id, row["id"]),
        )
        await conn.execute(
            "INSERT INTO runs (run_id, thread_id, owner_id, assistant_id, status, metadata, kwargs,"
            " multitask_strategy, attempt) VALUES (%s, %s, %s, %s, 'running', '{}', '{}', 'enqueue', 0)",
            (run_id, thread_id, row["id"], uuid.uuid4()),
        )
    bus: EventBus = app.state.event_bus
    async with bus.subscribe(run_id, capacity=8) as waiter:
        received, after = [], 0
        events, from_log = await next_events(pool, waiter, run_id, after)
        assert (events, from_log) == ([], True)
        written = _events(1, 50)
        await append_events(pool, run_id, 0, written)
        bus.deliver(str(run_id), written)  # more than the reader may hold
        while after < 50:
            events, _ = await next_events(pool, waiter, run_id, after)
            received += events
            after = events[-1].seq if events else after
        assert [e.seq for e in received] == list(range(1, 51))
        assert waiter.overflows == 1


async def test_resuming_with_an_unknown_last_event_id_replays_the_log_from_the_start(server_url, make_account):
    """As LangGraph's server: an id the run's log never had (another server's, a mangled one, one past
    the end) continues from the start of the log instead of being refused; a known one after it."""
    account = await make_account("lev")
    client = get_client(url=server_url, api_key=None, headers=account.headers)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": [], "delay": 0}, stream_mode=["values", "updates"])

    async def resumed(last_event_id: str | None) -> list[tuple]:
        stream = client.runs.join_stream(tid, run["run_id"], last_event_id=last_event_id)
        return [(p.event, p.data, p.id) async for p in stream]

    full = await resumed(None)
    assert full[0][0] == "metadata" and full[-1][0] == "end"
    for unknown in ("abc", "1717171717171-0", "0", "-3", str(len(full) + 5), "99999999999"):
        assert await resumed(unknown) == full, unknown
    assert await resumed(full[1][2]) == full[2:]


async def test_a_run_s_final_notification_carries_a_small_outcome_for_its_waiters_and_not_a_large_one() -> None:
    bus = EventBus("postgresql://not-connected")
    run_id = uuid.uuid4()
    output = {"n": 1, "text": "colons: and = signs", "nested": [{"a": None}]}
    async with bus.subscribe(run_id, final_only=True) as waiter:
        bus.wake(final_payload(run_id, "success", dumps(output)))
        assert waiter.is_set() and waiter.final
        assert waiter.outcome == ("success", output)
    large = {"text": "x" * 8000}
    assert final_payload(run_id, "success", dumps(large)) == f"{run_id}:end"  # NOTIFY's limit: the waiter reads the row
    async with bus.subscribe(run_id, final_only=True) as waiter:
        bus.wake(final_payload(run_id, "success", dumps(large)))
        assert waiter.final and waiter.outcome is None
        bus.wake(f"{run_id}:3")  # a progress notification is not for a final-only waiter
        assert waiter.outcome is None

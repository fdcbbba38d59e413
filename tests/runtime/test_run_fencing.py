"""Fencing a run's attempts: once a later attempt took a run up, every write of the earlier one (event-log
batches, checkpoints, the outcome) is refused, and an executing earlier attempt stops at its next write."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph_sdk import get_client

from loopdesk.core.metrics import RUNS_SUPERSEDED
from loopdesk.runtime.runs import repository
from loopdesk.runtime.runs.events import Event, append_events, read_events
from loopdesk.runtime.runs.executor import RunExecutor
from loopdesk.runtime.runs.fencing import FencedSaver, StaleAttempt


async def _running_run(pool) -> tuple[uuid.UUID, uuid.UUID]:  # noqa: ANN001
    """A thread with a run taken up once (attempt 1), written in SQL."""
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
            " multitask_strategy, attempt) VALUES (%s, %s, %s, %s, 'running', '{}', '{}', 'enqueue', 1)",
            (run_id, thread_id, row["id"], uuid.uuid4()),
        )
    return thread_id, run_id


async def _take_up_again(pool, run_id: uuid.UUID) -> int:  # noqa: ANN001
    """What another worker does with a run it recovers: the run's next attempt."""
    claimed = await repository.start(pool, run_id, max_attempts=5)
    assert claimed is not None
    return claimed.attempt


async def test_a_superseded_attempt_can_write_no_events(app):
    pool = app.state.persistence.pool
    _, run_id = await _running_run(pool)
    await append_events(pool, run_id, 1, [Event(1, "metadata", "{}")])
    assert await _take_up_again(pool, run_id) == 2
    with pytest.raises(StaleAttempt):
        await append_events(pool, run_id, 1, [Event(2, "values", '{"from": "stale"}')])
    await append_events(pool, run_id, 2, [Event(2, "values", '{"from": "live"}')])
    assert [(e.seq, e.data) for e in await read_events(pool, run_id, 0)] == [(1, "{}"), (2, '{"from": "live"}')]


async def test_a_superseded_attempt_can_write_no_checkpoint(app):
    pool = app.state.persistence.pool
    thread_id, run_id = await _running_run(pool)
    config = {"configurable": {"thread_id": str(thread_id), "checkpoint_ns": ""}}
    stale = FencedSaver(pool, run_id, 1)
    await stale.aput(config, empty_checkpoint(), {"step": -1, "run_id": str(run_id)}, {})
    await _take_up_again(pool, run_id)
    with pytest.raises(StaleAttempt):
        await stale.aput(config, {**empty_checkpoint(), "channel_values": {"steps": ["stale"]}}, {"step": 0}, {})
    with pytest.raises(StaleAttempt):
        await stale.aput_writes({**config, "configurable": {**config["configurable"], "checkpoint_id": "x"}},
                                [("steps", ["stale"])], "task-1")  # fmt: skip
    live = FencedSaver(pool, run_id, 2)
    await live.aput(config, empty_checkpoint(), {"step": 0, "run_id": str(run_id)}, {})
    async with pool.connection() as conn:
        steps = [
            r["step"]
            for r in await (
                await conn.execute(
                    "SELECT (metadata->>'step')::int AS step FROM checkpoints WHERE thread_id = %s ORDER BY 1",
                    (str(thread_id),),
                )
            ).fetchall()
        ]
        writes = await (await conn.execute("SELECT count(*) AS n FROM checkpoint_writes")).fetchone()
    assert steps == [-1, 0] and writes["n"] == 0  # the stale attempt's step 0 and its writes rolled back


async def test_a_superseded_attempt_cannot_record_the_outcome(app):
    pool = app.state.persistence.pool
    thread_id, run_id = await _running_run(pool)
    await _take_up_again(pool, run_id)
    outcome = dict(output={}, error=None, events=[("end", None)], values={}, interrupts={}, temporary=False)
    assert await repository.finish(pool, run_id, thread_id, attempt=1, status="success", **outcome) is None
    async with pool.connection() as conn:
        run = await (await conn.execute("SELECT status, attempt FROM runs WHERE run_id = %s", (run_id,))).fetchone()
    assert (run["status"], run["attempt"]) == ("running", 2)
    assert await repository.finish(pool, run_id, thread_id, attempt=2, status="success", **outcome) is not None


async def test_a_slow_attempt_judged_dead_stops_at_its_next_write_and_the_later_attempt_finishes_the_run(
    app, server_url, make_account
):
    account = await make_account("fen")
    client = get_client(url=server_url, api_key=None, headers=account.headers)
    thread_id = (await client.threads.create())["thread_id"]
    superseded = RUNS_SUPERSEDED._value.get()
    run = await client.runs.create(thread_id, "slow", input={"steps": [], "delay": 1.0})
    run_id = uuid.UUID(run["run_id"])
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.runs.get(thread_id, run["run_id"]))["status"] != "running":
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the first attempt is inside its first step's one-second sleep
    # Another worker recovers the run meanwhile (as the stall sweeper lets it when a heartbeat is late).
    state = app.state
    second = RunExecutor(state.database, state.persistence, state.graphs)
    await second.execute(run_id)
    final = await client.runs.join(thread_id, run["run_id"])
    assert final["steps"] == ["first", "second"]
    got = await client.runs.get(thread_id, run["run_id"])
    assert got["status"] == "success"
    for _ in range(50):  # the first attempt wakes from its step and meets the fence
        if RUNS_SUPERSEDED._value.get() > superseded:
            break
        await asyncio.sleep(0.1)
    assert RUNS_SUPERSEDED._value.get() == superseded + 1
    pool = state.persistence.pool
    async with pool.connection() as conn:
        run_row = await (await conn.execute("SELECT attempt FROM runs WHERE run_id = %s", (run_id,))).fetchone()
        steps = await (
            await conn.execute(
                "SELECT (metadata->>'step')::int AS step FROM checkpoints WHERE thread_id = %s ORDER BY 1",
                (thread_id,),
            )
        ).fetchall()
    assert run_row["attempt"] == 2
    # One lineage: the input and start checkpoints (-1, 0) the first attempt wrote, then the second attempt's
    # two steps; the first attempt's own checkpoint after its first step (a second step 1) was refused.
    assert [r["step"] for r in steps] == [-1, 0, 1, 2]
    events = await read_events(pool, run_id, 0)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.event for e in events].count("end") == 1 and events[-1].event == "end"


async def test_a_stalled_run_job_is_recovered_as_a_new_job_so_the_silent_attempt_finishes_only_its_own(
    app, server_url, make_account
):
    """The sweep ends the silent worker's job `failed` and defers a new one for the run: the slow first attempt,
    superseded, finishes its own row (procrastinate refuses: it is no longer `doing`) and never the row the second
    attempt holds, which succeeds with the run (and is deleted, as every successful job)."""
    from loopdesk.runtime.runs.tasks import recover_stalled

    account = await make_account("sweep")
    client = get_client(url=server_url, api_key=None, headers=account.headers)
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(thread_id, "slow", input={"steps": [], "delay": 1.5})
    run_id = uuid.UUID(run["run_id"])
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.runs.get(thread_id, run["run_id"]))["status"] != "running":
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.02)
    pool = app.state.persistence.pool
    async with pool.connection() as conn:
        first_job = (await (await conn.execute("SELECT job_id FROM runs WHERE run_id = %s", (run_id,))).fetchone())[
            "job_id"
        ]
        silent = await (
            await conn.execute(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).fetchone()
        await conn.execute("UPDATE procrastinate_jobs SET worker_id = %s WHERE id = %s", (silent["id"], first_job))

    queue = app.state.queue_worker.app
    assert await recover_stalled(queue, app.state.database, 3) == 1
    assert await recover_stalled(queue, app.state.database, 3) == 0  # taken once

    final = await client.runs.join(thread_id, run["run_id"])
    assert final["steps"] == ["first", "second"]
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT attempt, job_id FROM runs WHERE run_id = %s", (run_id,))).fetchone()
        assert row["attempt"] == 2 and row["job_id"] != first_job
        for _ in range(50):  # the superseded first attempt returns, and procrastinate tries to finish its job
            found = await conn.execute(
                "SELECT id, status::text AS status FROM procrastinate_jobs WHERE id = ANY(%s)",
                ([first_job, row["job_id"]],),
            )
            statuses = {r["id"]: r["status"] for r in await found.fetchall()}
            if row["job_id"] not in statuses:  # succeeded: the worker deletes a successful job
                break
            await asyncio.sleep(0.1)
    assert statuses == {first_job: "failed"}

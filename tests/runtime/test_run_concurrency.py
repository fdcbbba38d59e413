"""One active run per thread: multitask strategies, cancel, resumable join-streams."""

import asyncio

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def wait_status(client, thread_id: str, run_id: str, status: str, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (await client.runs.get(thread_id, run_id))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"run never became {status}"
        await asyncio.sleep(0.05)


SLOW = {"steps": [], "delay": 0.6}
# A run still on its second step when the next run arrives: the test waits for the first step's checkpoint, then
# has 1.5 s (not a timing margin a busy 2-core host can eat).
SLOWER = {"steps": [], "delay": 1.5}


async def wait_first_step(client, thread_id: str, seconds: float = 10) -> None:
    """Until the thread's state holds the first step (its checkpoint is written)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while ((await client.threads.get_state(thread_id))["values"] or {}).get("steps") != ["first"]:
        assert asyncio.get_running_loop().time() < deadline, "the first step never finished"
        await asyncio.sleep(0.05)


async def test_reject_answers_409_while_a_run_is_in_flight(server_url, make_account):
    account = await make_account("ada")
    client = sdk(server_url, account)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOW)
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(
            f"/threads/{tid}/runs", json={"assistant_id": "slow", "input": SLOW, "multitask_strategy": "reject"}
        )
    assert_error(response, 409, "thread_busy")
    await client.runs.join(tid, first["run_id"])
    # Once the thread is free, reject lets a run through.
    done = await client.runs.wait(tid, "echo", input={"messages": ["x"]}, multitask_strategy="reject")
    assert done is not None


async def test_enqueue_runs_one_after_the_other_in_order(server_url, make_account):
    client = sdk(server_url, await make_account("bo"))
    tid = (await client.threads.create())["thread_id"]
    fast = {"steps": [], "delay": 0.1}
    runs = [await client.runs.create(tid, "slow", input=fast, multitask_strategy="enqueue") for _ in range(3)]
    last = await client.runs.join(tid, runs[-1]["run_id"])
    # Each run appended its two steps after the previous run's: they never interleaved.
    assert last["steps"] == ["first", "second"] * 3
    statuses = [(await client.runs.get(tid, r["run_id"]))["status"] for r in runs]
    assert statuses == ["success"] * 3


async def test_interrupt_stops_the_running_run_and_keeps_its_work(server_url, make_account):
    client = sdk(server_url, await make_account("cy"))
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOWER)
    await wait_first_step(client, tid)  # past the first step's checkpoint, well before the second's
    second = await client.runs.create(tid, "slow", input={"delay": 0}, multitask_strategy="interrupt")
    result = await client.runs.join(tid, second["run_id"])
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    # The interrupted run's first step stayed; its second never ran.
    assert result["steps"][:1] == ["first"] and result["steps"].count("second") == 1


async def test_rollback_deletes_the_running_run_and_its_checkpoints(server_url, make_account):
    client = sdk(server_url, await make_account("di"))
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input=SLOWER)
    await wait_first_step(client, tid)
    second = await client.runs.create(
        tid, "slow", input={"steps": ["fresh"], "delay": 0}, multitask_strategy="rollback"
    )
    result = await client.runs.join(tid, second["run_id"])
    assert result["steps"] == ["fresh", "first", "second"]  # nothing of the rolled-back run remains
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.runs.get(tid, first["run_id"])
    assert caught.value.response.status_code == 404


async def test_cancel_with_wait_interrupts_a_running_run(server_url, make_account):
    client = sdk(server_url, await make_account("ed"))
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": [], "delay": 5})
    await wait_status(client, tid, run["run_id"], "running")
    started = asyncio.get_running_loop().time()
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert asyncio.get_running_loop().time() - started < 4  # stopped mid-step, not after it
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] == "idle"
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert parts[0].event == "metadata" and parts[-1].event == "end"


async def test_cancel_a_queued_run_and_rollback_a_run(server_url, make_account):
    account = await make_account("fay")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    running = await client.runs.create(tid, "slow", input={"steps": [], "delay": 0.5})
    queued = await client.runs.create(tid, "slow", input={"steps": [], "delay": 0})
    await client.runs.cancel(tid, queued["run_id"])
    assert (await client.runs.get(tid, queued["run_id"]))["status"] == "interrupted"
    await client.runs.cancel(tid, running["run_id"], wait=True, action="rollback")
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        assert_error(await http.get(f"/threads/{tid}/runs/{running['run_id']}"), 404, "run_not_found")
        # A finished run has nothing to cancel (404, as on LangGraph's server), and can be deleted.
        assert_error(await http.post(f"/threads/{tid}/runs/{queued['run_id']}/cancel"), 404, "run_not_cancellable")
        assert (await http.delete(f"/threads/{tid}/runs/{queued['run_id']}")).status_code == 204
        assert_error(await http.get(f"/threads/{tid}/runs/{queued['run_id']}"), 404)
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_bulk_cancel_by_thread(server_url, make_account):
    client = sdk(server_url, await make_account("gus"))
    tid = (await client.threads.create())["thread_id"]
    runs = [await client.runs.create(tid, "slow", input={"steps": [], "delay": 2}) for _ in range(3)]
    await client.runs.cancel_many(thread_id=tid)
    for run in runs:
        await client.runs.join(tid, run["run_id"])
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"


async def test_join_stream_resumes_after_a_dropped_connection_exactly_once(server_url, make_account):
    client = sdk(server_url, await make_account("hal"))
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        tid, "slow", input={"steps": [], "delay": 0.3}, stream_mode=["values", "updates", "custom"]
    )
    seen = []
    async for part in client.runs.join_stream(tid, run["run_id"]):
        seen.append(part)
        if len(seen) == 3:
            break  # the client drops the connection mid-run
    rest = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id=seen[-1].id)]
    full = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert [(p.event, p.data, p.id) for p in seen + rest] == [(p.event, p.data, p.id) for p in full]
    assert full[0].event == "metadata" and full[-1].event == "end"
    assert len({p.id for p in full}) == len(full)


async def test_join_stream_filters_modes_and_sends_heartbeats_while_idle(server_url, make_account, app):
    account = await make_account("ivy")
    client = sdk(server_url, account)
    app.state.settings.runtime.heartbeat_seconds = 0.2
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": [], "delay": 0.5}, stream_mode=["values", "updates"])
    async with (
        httpx.AsyncClient(base_url=server_url, headers=account.headers) as http,
        http.stream("GET", f"/threads/{tid}/runs/{run['run_id']}/stream", params={"stream_mode": "updates"}) as resp,
    ):
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["location"] == f"/threads/{tid}/runs/{run['run_id']}/stream"
        body = (await resp.aread()).decode()
    assert ": heartbeat" in body
    events = [line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("event: ")]
    assert events == ["metadata", "updates", "updates", "end"]


async def test_after_seconds_delays_the_start(server_url, make_account):
    client = sdk(server_url, await make_account("kim"))
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "echo", input={"messages": ["later"]}, after_seconds=1)
    await asyncio.sleep(0.5)
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "pending"
    assert (await client.runs.join(tid, run["run_id"]))["count"] == 1


async def test_batch_creates_stateless_runs(server_url, make_account):
    client = sdk(server_url, await make_account("lu"))
    runs = await client.runs.create_batch(
        [{"assistant_id": "echo", "input": {"messages": [str(i)]}, "on_completion": "keep"} for i in range(3)]
    )
    assert len(runs) == 3
    for i, run in enumerate(runs):
        assert (await client.runs.join(run["thread_id"], run["run_id"]))["messages"] == [str(i), f"echo: {i}"]


async def test_on_disconnect_cancel_stops_the_run_when_the_client_goes(server_url, make_account):
    account = await make_account("mo")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    body = {"assistant_id": "slow", "input": {"steps": [], "delay": 3}, "on_disconnect": "cancel"}
    async with (
        httpx.AsyncClient(base_url=server_url, headers=account.headers) as http,
        http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response,
    ):
        run_path = response.headers["content-location"]
        async for line in response.aiter_lines():
            if line.startswith("event: metadata"):
                break  # the client goes away mid-run
    run_id = run_path.rsplit("/", 1)[1]
    await client.runs.join(tid, run_id)
    assert (await client.runs.get(tid, run_id))["status"] == "interrupted"

"""Runs over real HTTP with the official langgraph-sdk client, executed by the in-process queue worker."""

import asyncio

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from sqlalchemy.engine import make_url

from tests.conftest import assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def collect(stream) -> list:
    return [part async for part in stream]


async def test_wait_answers_with_the_final_values_and_the_thread_remembers(server_url, make_account):
    client = sdk(server_url, await make_account("ada"))
    thread = await client.threads.create()
    first = await client.runs.wait(thread["thread_id"], "echo", input={"messages": ["hi"]})
    assert first == {"messages": ["hi", "echo: hi"], "count": 1}
    second = await client.runs.wait(thread["thread_id"], "echo", input={"messages": ["again"]})
    assert second["messages"][-1] == "echo: again" and second["count"] == 2
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == second
    got = await client.threads.get(thread["thread_id"])
    assert got["status"] == "idle" and got["values"] == second and got["metadata"]["graph_id"] == "echo"
    runs = await client.runs.list(thread["thread_id"])
    assert [r["status"] for r in runs] == ["success", "success"]


async def test_stream_sends_metadata_first_end_last_and_every_requested_mode(server_url, make_account):
    client = sdk(server_url, await make_account("bo"))
    thread = await client.threads.create()
    modes = ["values", "updates", "custom", "debug", "tasks", "checkpoints"]
    parts = await collect(
        client.runs.stream(thread["thread_id"], "slow", input={"steps": [], "delay": 0}, stream_mode=modes)
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    assert set(events) == {"metadata", "end", *modes}
    assert parts[0].data["run_id"]
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": "first"}]
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates == [{"first": {"steps": ["first"]}}, {"second": {"steps": ["second"]}}]
    assert [p for p in parts if p.event == "values"][-1].data["steps"] == ["first", "second"]


async def test_events_mode_streams_langchain_events_alongside_other_modes(server_url, make_account):
    client = sdk(server_url, await make_account("evy"))
    thread = await client.threads.create()
    parts = await collect(
        client.runs.stream(
            thread["thread_id"], "chat", input={"messages": [("user", "hi")]}, stream_mode=["events", "values"]
        )
    )
    kinds = {p.data["event"] for p in parts if p.event == "events"}
    assert {"on_chain_start", "on_chat_model_stream", "on_chain_end"} <= kinds
    assert [p for p in parts if p.event == "values"][-1].data["messages"][-1]["content"] == "hello there friend"
    assert parts[0].event == "metadata" and parts[-1].event == "end"


async def test_messages_stream_as_tuples_and_as_partial_messages(server_url, make_account):
    client = sdk(server_url, await make_account("cy"))
    thread = await client.threads.create()
    parts = await collect(
        client.runs.stream(
            thread["thread_id"],
            "chat",
            input={"messages": [("user", "hi")]},
            stream_mode=["messages-tuple", "messages"],
        )
    )
    tuples = [p.data for p in parts if p.event == "messages"]
    assert "".join(chunk["content"] for chunk, _meta in tuples) == "hello there friend"
    assert all(meta["langgraph_node"] == "chat" for _chunk, meta in tuples)
    partial = [p.data for p in parts if p.event == "messages/partial"]
    assert partial[-1][0]["content"] == "hello there friend"
    assert any(p.event == "messages/metadata" for p in parts)


async def test_subgraph_events_carry_their_namespace(server_url, make_account):
    client = sdk(server_url, await make_account("di"))
    thread = await client.threads.create()
    parts = await collect(
        client.runs.stream(
            thread["thread_id"], "parent", input={"steps": []}, stream_mode="updates", stream_subgraphs=True
        )
    )
    names = [p.event for p in parts]
    assert "updates" in names
    assert any(name.startswith("updates|inner:") for name in names), names


async def test_a_graph_that_raises_ends_in_error_and_the_worker_goes_on(server_url, make_account):
    client = sdk(server_url, await make_account("ed"))
    thread = await client.threads.create()
    parts = await collect(client.runs.stream(thread["thread_id"], "failing", input={"steps": []}))
    error = next(p.data for p in parts if p.event == "error")
    assert error == {"error": "ValueError", "message": "the graph broke on purpose"}
    assert parts[-1].event == "end"
    runs = await client.runs.list(thread["thread_id"])
    assert runs[0]["status"] == "error"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "error"
    with pytest.raises(Exception, match="ValueError: the graph broke on purpose"):
        await client.runs.wait(thread["thread_id"], "failing", input={"steps": []})
    # The worker still serves the next run.
    assert (await client.runs.wait(None, "echo", input={"messages": ["ok"]}))["count"] == 1


async def test_background_run_then_join_and_get(server_url, make_account):
    client = sdk(server_url, await make_account("fay"))
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": [], "delay": 0.2})
    assert run["status"] in ("pending", "running")
    assert (await client.threads.get(thread["thread_id"]))["status"] == "busy"
    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["steps"] == ["first", "second"]
    done = await client.runs.get(thread["thread_id"], run["run_id"])
    assert done["status"] == "success"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_interrupt_then_resume_with_a_command(server_url, make_account):
    client = sdk(server_url, await make_account("gus"))
    thread = await client.threads.create()
    paused = await client.runs.wait(thread["thread_id"], "approval", input={"steps": []})
    assert paused["__interrupt__"][0]["value"] == {"question": "approve?", "steps": ["first"]}
    got = await client.threads.get(thread["thread_id"])
    assert got["status"] == "interrupted" and got["interrupts"]
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["ask"] and state["interrupts"][0]["value"]["question"] == "approve?"
    runs = await client.runs.list(thread["thread_id"])
    assert runs[0]["status"] == "interrupted"

    done = await client.runs.wait(thread["thread_id"], "approval", command={"resume": "yes"})
    assert done["answer"] == "yes" and done["steps"] == ["first", "asked", "second"]
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_resuming_a_thread_that_is_not_interrupted_is_409(server_url, make_account):
    account = await make_account("hal")
    client = sdk(server_url, account)
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(
            f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "echo", "command": {"resume": 1}}
        )
    assert_error(response, 409, "thread_not_interrupted")


async def test_resume_by_interrupt_id_and_goto(server_url, make_account):
    client = sdk(server_url, await make_account("ivy"))
    thread = await client.threads.create()
    paused = await client.runs.wait(thread["thread_id"], "approval", input={"steps": []})
    interrupt_id = paused["__interrupt__"][0]["id"]
    done = await client.runs.wait(thread["thread_id"], "approval", command={"resume": {interrupt_id: "by-id"}})
    assert done["answer"] == "by-id"
    jumped = await client.runs.wait(
        thread["thread_id"], "approval", command={"goto": "second", "update": {"steps": ["jumped"]}}
    )
    assert jumped["steps"][-2:] == ["jumped", "second"]


async def test_stateless_wait_and_stream(server_url, make_account):
    client = sdk(server_url, await make_account("jo"))
    assert (await client.runs.wait(None, "echo", input={"messages": ["x"]}))["messages"] == ["x", "echo: x"]
    parts = await collect(client.runs.stream(None, "echo", input={"messages": ["y"]}, stream_mode="updates"))
    assert [p.event for p in parts] == ["metadata", "updates", "end"]


async def test_unknown_assistant_thread_and_run_are_404_and_bad_modes_422(server_url, make_account):
    account = await make_account("kim")
    client = sdk(server_url, account)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        assert_error(await http.post(f"/threads/{tid}/runs", json={"assistant_id": "nope"}), 404, "assistant_not_found")
        missing = "00000000-0000-0000-0000-000000000001"
        assert_error(
            await http.post(f"/threads/{missing}/runs", json={"assistant_id": "echo"}), 404, "thread_not_found"
        )
        assert_error(await http.get(f"/threads/{tid}/runs/{missing}"), 404, "run_not_found")
        bad = assert_error(
            await http.post(f"/threads/{tid}/runs/stream", json={"assistant_id": "echo", "stream_mode": ["bogus"]}), 422
        )
        assert "stream_mode" in str(bad["detail"])
        bad = assert_error(
            await http.post(f"/threads/{tid}/runs", json={"assistant_id": "echo", "config": {"recursion_limit": -1}}),
            422,
        )
        assert "config" in str(bad["detail"])


async def test_if_not_exists_create_makes_the_thread(server_url, make_account):
    client = sdk(server_url, await make_account("lu"))
    tid = "4b1c9c51-0000-4000-8000-000000000001"
    result = await client.runs.wait(tid, "echo", input={"messages": ["new"]}, if_not_exists="create")
    assert result["count"] == 1
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_runs_of_other_users_are_invisible(server_url, make_account):
    owner = sdk(server_url, await make_account("mo"))
    other_account = await make_account("ned")
    thread = await owner.threads.create()
    run = await owner.runs.create(thread["thread_id"], "echo", input={"messages": ["secret"]})
    await owner.runs.join(thread["thread_id"], run["run_id"])
    async with httpx.AsyncClient(base_url=server_url, headers=other_account.headers) as http:
        tid, rid = thread["thread_id"], run["run_id"]
        assert_error(await http.get(f"/threads/{tid}/runs/{rid}"), 404)
        assert_error(await http.get(f"/threads/{tid}/runs"), 404)
        assert_error(await http.get(f"/threads/{tid}/runs/{rid}/join"), 404)
        assert_error(await http.get(f"/threads/{tid}/runs/{rid}/stream"), 404)
        assert_error(await http.post(f"/threads/{tid}/runs", json={"assistant_id": "echo"}), 404)
        assert_error(await http.post(f"/threads/{tid}/runs/{rid}/cancel"), 404)
        assert_error(await http.delete(f"/threads/{tid}/runs/{rid}"), 404)
    await asyncio.sleep(0)


async def test_runs_go_on_after_the_database_drops_every_connection(
    server_url, make_account, pg_admin_url, database_url
):
    """The pools replace dead connections, the bus listens again, the worker outlives the outage."""
    client = sdk(server_url, await make_account("oz"))
    assert (await client.runs.wait(None, "echo", input={"messages": ["before"]}))["count"] == 1
    name = make_url(database_url).database
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    result = await asyncio.wait_for(client.runs.wait(None, "echo", input={"messages": ["after"]}), timeout=30)
    assert result["messages"] == ["after", "echo: after"]


# -- cancel ----------------------------------------------------------------------------------------

LONG = {"steps": [], "delay": 30}  # a step that only a cancel ends


async def _running(client, thread_id: str, input: dict = LONG) -> str:
    run = await client.runs.create(thread_id, "slow", input=input)
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.runs.get(thread_id, run["run_id"]))["status"] != "running":
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.02)
    return run["run_id"]


async def test_a_cancelled_run_reads_interrupted_at_once_and_cancel_answers_202_without_a_body(
    server_url, make_account
):
    account = await make_account("pia")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    rid = await _running(client, tid)
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(f"/threads/{tid}/runs/{rid}/cancel")
    assert response.status_code == 202 and response.content == b""
    # Written when the cancel was accepted, not when the worker gets round to it.
    assert (await client.runs.get(tid, rid))["status"] == "interrupted"
    assert [r["status"] for r in await client.runs.list(tid)] == ["interrupted"]
    # The worker still stops the run: its stream ends and the thread is free again.
    parts = [p async for p in client.runs.join_stream(tid, rid)]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_cancel_with_wait_answers_200_with_the_join_body_once_the_run_stopped(server_url, make_account):
    account = await make_account("quin")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    rid = await _running(client, tid)
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(f"/threads/{tid}/runs/{rid}/cancel", params={"wait": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["location"] == f"/threads/{tid}/runs/{rid}/join"
    assert response.json() == {}  # LangGraph's server answers the run's result; this one left none
    # Answered once the worker let go: the thread is settled and the log closed.
    assert (await client.threads.get(tid))["status"] == "idle"
    parts = [p async for p in client.runs.join_stream(tid, rid)]
    assert parts[-1].event == "end"
    # The SDK reads the same answer.
    other = await _running(client, tid)
    assert await client.runs.cancel(tid, other, wait=True) == {}


async def test_cancel_with_rollback_deletes_the_run_and_answers_like_interrupt(server_url, make_account):
    account = await make_account("rae")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    done = await client.runs.wait(tid, "slow", input={"steps": ["kept"], "delay": 0})
    rid = await _running(client, tid)
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(f"/threads/{tid}/runs/{rid}/cancel", params={"wait": 1, "action": "rollback"})
        assert response.status_code == 200 and response.json() == {}
        assert_error(await http.get(f"/threads/{tid}/runs/{rid}"), 404, "run_not_found")
        # No wait: 202; a run that never started goes at once.
        running = await _running(client, tid)
        queued = (await client.runs.create(tid, "slow", input={"delay": 0}))["run_id"]
        response = await http.post(f"/threads/{tid}/runs/{queued}/cancel", params={"action": "rollback"})
        assert response.status_code == 202 and response.content == b""
        assert_error(await http.get(f"/threads/{tid}/runs/{queued}"), 404, "run_not_found")
        await client.runs.cancel(tid, running, wait=True, action="rollback")
    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == done["steps"] == ["kept", "first", "second"]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_bulk_cancel_answers_204_and_the_runs_read_interrupted_at_once(server_url, make_account):
    account = await make_account("sol")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    running = await _running(client, tid)
    queued = (await client.runs.create(tid, "slow", input=LONG))["run_id"]
    other_tid = (await client.threads.create())["thread_id"]
    elsewhere = await _running(client, other_tid)
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post("/runs/cancel", json={"thread_id": tid, "run_ids": [running, queued]})
    assert response.status_code == 204 and response.content == b""
    assert [(await client.runs.get(tid, r))["status"] for r in (running, queued)] == ["interrupted", "interrupted"]
    assert (await client.runs.get(other_tid, elsewhere))["status"] == "running"
    await client.runs.cancel_many(status="running", action="interrupt")
    assert (await client.runs.get(other_tid, elsewhere))["status"] == "interrupted"
    for thread_id, run_id in ((tid, running), (other_tid, elsewhere)):
        await client.runs.join(thread_id, run_id)
        assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_a_cancel_accepted_while_the_graph_ends_stands_and_the_run_cannot_be_deleted_meanwhile(
    server_url, make_account, app
):
    """The cancel is on the row before the worker hears of it (here: never, no abort is sent): the
    graph ends, and the worker records the cancel, not a success."""
    account = await make_account("tam")
    client = sdk(server_url, account)
    tid = (await client.threads.create())["thread_id"]
    rid = await _running(client, tid, input={"steps": [], "delay": 1})
    async with app.state.persistence.pool.connection() as conn:
        await conn.execute(
            "UPDATE runs SET status = 'interrupted', cancel_action = 'interrupt' WHERE run_id = %s", (rid,)
        )
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        assert_error(await http.delete(f"/threads/{tid}/runs/{rid}"), 409)  # its worker has not let go yet
        await client.runs.join(tid, rid)
        assert (await client.runs.get(tid, rid))["status"] == "interrupted"
        assert (await client.threads.get(tid))["status"] == "idle"
        assert (await http.delete(f"/threads/{tid}/runs/{rid}")).status_code == 204

"""Threads and thread state over real HTTP with the official langgraph-sdk client."""

import uuid

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def expect_status(call, status: int) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await call
    assert caught.value.response.status_code == status, caught.value.response.text


async def test_create_get_patch_and_delete_a_thread(server_url, make_account):
    client = sdk(server_url, await make_account("tam"))
    thread_id = str(uuid.uuid4())
    created = await client.threads.create(thread_id=thread_id, metadata={"channel": "email"})
    assert (
        created["thread_id"] == thread_id
        and created["status"] == "idle"
        and created["metadata"] == {"channel": "email"}
    )
    same = await client.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert same["created_at"] == created["created_at"]
    await expect_status(client.threads.create(thread_id=thread_id), 409)
    patched = await client.threads.update(thread_id, metadata={"priority": "high"})
    assert patched["metadata"] == {"channel": "email", "priority": "high"}
    assert (await client.threads.get(thread_id))["metadata"]["priority"] == "high"
    await client.threads.delete(thread_id)
    await expect_status(client.threads.get(thread_id), 404)


async def test_state_update_get_and_history_through_the_threads_graph(server_url, make_account):
    client = sdk(server_url, await make_account("uli"))
    thread = await client.threads.create(graph_id="echo")
    empty = await client.threads.get_state(thread["thread_id"])
    assert empty["values"] == {} and empty["next"] == []
    first = await client.threads.update_state(thread["thread_id"], {"messages": ["hello"], "count": 1}, as_node="echo")
    second = await client.threads.update_state(thread["thread_id"], {"messages": ["again"]}, as_node="echo")
    assert first["checkpoint"]["checkpoint_id"] != second["checkpoint"]["checkpoint_id"]
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"messages": ["hello", "again"], "count": 1}
    assert state["checkpoint"]["checkpoint_id"] == second["checkpoint"]["checkpoint_id"]
    assert state["parent_checkpoint"]["checkpoint_id"] == first["checkpoint"]["checkpoint_id"]
    at_first = await client.threads.get_state(thread["thread_id"], checkpoint_id=first["checkpoint"]["checkpoint_id"])
    assert at_first["values"]["messages"] == ["hello"]
    history = await client.threads.get_history(thread["thread_id"], limit=10)
    assert [h["checkpoint"]["checkpoint_id"] for h in history[:2]] == [
        second["checkpoint"]["checkpoint_id"],
        first["checkpoint"]["checkpoint_id"],
    ]
    # The row follows the state, so threads can be searched by their values.
    assert (await client.threads.get(thread["thread_id"]))["values"]["messages"] == ["hello", "again"]
    found = await client.threads.search(values={"count": 1})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]


async def test_copy_keeps_the_history_and_prune_keeps_only_the_latest(server_url, make_account):
    client = sdk(server_url, await make_account("vera"))
    thread = await client.threads.create(graph_id="echo", metadata={"k": "v"})
    for word in ("a", "b", "c"):
        await client.threads.update_state(thread["thread_id"], {"messages": [word]}, as_node="echo")
    copy = await client.threads.copy(thread["thread_id"])
    assert copy["thread_id"] != thread["thread_id"] and copy["metadata"]["k"] == "v"
    assert (await client.threads.get_state(copy["thread_id"]))["values"]["messages"] == ["a", "b", "c"]
    assert len(await client.threads.get_history(copy["thread_id"])) >= 3
    pruned = await client.threads.prune([thread["thread_id"]], strategy="keep_latest")
    assert pruned == {"pruned_count": 1}
    assert len(await client.threads.get_history(thread["thread_id"])) == 1
    assert (await client.threads.get_state(thread["thread_id"]))["values"]["messages"] == ["a", "b", "c"]
    assert await client.threads.prune([copy["thread_id"]]) == {"pruned_count": 1}
    await expect_status(client.threads.get(copy["thread_id"]), 404)


async def test_search_and_count_filter_and_page(server_url, make_account):
    client = sdk(server_url, await make_account("wyn"))
    ids = [(await client.threads.create(metadata={"batch": "q", "n": i}))["thread_id"] for i in range(5)]
    page = await client.threads.search(metadata={"batch": "q"}, limit=2, sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in page] == ids[:2]
    assert await client.threads.count(metadata={"batch": "q"}) == 5
    assert await client.threads.count(status="idle") >= 5
    some = await client.threads.search(ids=ids[1:3], select=["thread_id"])
    assert sorted(t["thread_id"] for t in some) == sorted(ids[1:3]) and set(some[0]) == {"thread_id"}


async def test_threads_are_private_to_their_owner(server_url, make_account, admin):
    owner, other = sdk(server_url, await make_account("xan")), sdk(server_url, await make_account("yul"))
    thread = await owner.threads.create(graph_id="echo")
    await owner.threads.update_state(thread["thread_id"], {"messages": ["secret"]}, as_node="echo")
    for call in (
        other.threads.get(thread["thread_id"]),
        other.threads.get_state(thread["thread_id"]),
        other.threads.update(thread["thread_id"], metadata={"x": 1}),
        other.threads.update_state(thread["thread_id"], {"messages": ["x"]}, as_node="echo"),
        other.threads.get_history(thread["thread_id"]),
        other.threads.copy(thread["thread_id"]),
        other.threads.delete(thread["thread_id"]),
    ):
        await expect_status(call, 404)
    assert await other.threads.search() == [] and await other.threads.count() == 0
    assert await other.threads.prune([thread["thread_id"]]) == {"pruned_count": 0}
    # Another user cannot take the id either.
    await expect_status(other.threads.create(thread_id=thread["thread_id"]), 409)
    assert (await sdk(server_url, admin).threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]
    assert (await owner.threads.get_state(thread["thread_id"]))["values"]["messages"] == ["secret"]


async def test_bad_thread_requests_get_clear_errors(client, make_account):
    account = await make_account("zoe")
    h = account.headers
    assert_error(await client.get(f"/threads/{uuid.uuid4()}", headers=h), 404, "thread_not_found")
    assert_error(await client.get("/threads/not-a-uuid", headers=h), 422, "validation_error")
    no_graph = (await client.post("/threads", json={}, headers=h)).json()
    response = await client.post(f"/threads/{no_graph['thread_id']}/state", json={"values": {"a": 1}}, headers=h)
    assert_error(response, 400, "bad_request")
    echo = (await client.post("/threads", json={"metadata": {"graph_id": "echo"}}, headers=h)).json()
    unknown_node = await client.post(
        f"/threads/{echo['thread_id']}/state", json={"values": {"messages": ["x"]}, "as_node": "nope"}, headers=h
    )
    assert_error(unknown_node, 400, "bad_request")
    bad_ttl = await client.post("/threads", json={"ttl": -5}, headers=h)
    assert_error(bad_ttl, 422, "validation_error")
    assert_error(await client.post("/threads/search", json={"limit": 0}, headers=h), 422)
    missing = await client.get(f"/threads/{echo['thread_id']}/state/1ef00000-0000-6000-8000-000000000000", headers=h)
    assert_error(missing, 404)


async def test_the_ttl_sweep_deletes_expired_threads_with_their_checkpoints(
    server_url, make_account, app, database_url
):
    import psycopg

    from loopdesk.runtime.threads.tasks import sweep_expired_threads

    client = sdk(server_url, await make_account("ttl"))
    expiring = await client.threads.create(ttl=1)
    kept = await client.threads.create(ttl=60)
    await client.runs.wait(expiring["thread_id"], "echo", input={"messages": ["bye"]})
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE threads SET expires_at = now() - interval '1 second' WHERE thread_id = %s", (expiring["thread_id"],)
        )
    assert await sweep_expired_threads(app.state.database, app.state.persistence) == 1
    assert [t["thread_id"] for t in await client.threads.search()] == [kept["thread_id"]]
    with psycopg.connect(database_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (expiring["thread_id"],)
        ).fetchone()
    assert left[0] == 0

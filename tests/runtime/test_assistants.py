"""Assistants over real HTTP with the official langgraph-sdk client."""

import asyncio
import json
import uuid

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import TEST_GRAPHS, assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def test_every_graph_has_a_default_assistant_reachable_by_graph_id(server_url, make_account):
    client = sdk(server_url, await make_account("ada"))
    by_name = await client.assistants.get("echo")
    # The id the LangGraph server would give it, so clients can hard-code either.
    assert by_name["assistant_id"] == str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "echo"))
    assert by_name["graph_id"] == "echo" and by_name["metadata"] == {"created_by": "system"}
    assert (await client.assistants.get(by_name["assistant_id"]))["name"] == "echo"
    graphs = {a["graph_id"] for a in await client.assistants.search(metadata={"created_by": "system"}, limit=100)}
    assert graphs == set(json.loads(TEST_GRAPHS.read_text())["graphs"]) | {"agent", "support"}  # + the built-ins


async def test_create_patch_and_roll_back_versions(server_url, make_account):
    client = sdk(server_url, await make_account("bo"))
    created = await client.assistants.create(
        "echo", config={"configurable": {"tone": "dry"}}, metadata={"team": "support"}, name="Dry echo"
    )
    assert created["version"] == 1 and created["name"] == "Dry echo"
    patched = await client.assistants.update(
        created["assistant_id"], config={"configurable": {"tone": "warm"}}, metadata={"tier": "gold"}
    )
    assert patched["version"] == 2
    assert patched["config"] == {"configurable": {"tone": "warm"}}
    assert patched["metadata"] == {"team": "support", "tier": "gold"}  # merged
    versions = await client.assistants.get_versions(created["assistant_id"])
    assert [v["version"] for v in versions] == [2, 1]
    rolled_back = await client.assistants.set_latest(created["assistant_id"], 1)
    assert rolled_back["version"] == 1 and rolled_back["config"] == {"configurable": {"tone": "dry"}}
    assert (await client.assistants.get(created["assistant_id"]))["version"] == 1


async def test_if_exists_decides_between_conflict_and_returning_the_existing(server_url, make_account):
    client = sdk(server_url, await make_account("cy"))
    assistant_id = str(uuid.uuid4())
    first = await client.assistants.create("echo", assistant_id=assistant_id, name="first")
    same = await client.assistants.create("echo", assistant_id=assistant_id, name="second", if_exists="do_nothing")
    assert same["name"] == "first" and same["created_at"] == first["created_at"]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.assistants.create("echo", assistant_id=assistant_id)
    assert caught.value.response.status_code == 409


async def test_unknown_graphs_and_assistants_are_404_with_a_code(client, make_account):
    account = await make_account("dee")
    assert_error(
        await client.post("/assistants", json={"graph_id": "nope"}, headers=account.headers), 404, "graph_not_found"
    )
    for ref in ("not-a-graph-or-uuid", str(uuid.uuid4())):
        assert_error(await client.get(f"/assistants/{ref}", headers=account.headers), 404, "assistant_not_found")
    bad = await client.post(
        "/assistants", json={"graph_id": "echo", "config": "not-an-object"}, headers=account.headers
    )
    error = assert_error(bad, 422, "validation_error")
    assert error["detail"][0]["loc"] == ["body", "config"]
    assert_error(await client.post("/assistants", json={"graph_id": "echo"}), 401)


async def test_search_filters_sorts_pages_and_selects(server_url, make_account):
    client = sdk(server_url, await make_account("eli"))
    for i in range(5):
        await client.assistants.create("echo", name=f"Bot {i}", metadata={"batch": "s", "n": i})
    await client.assistants.create("nested", name="Other", metadata={"batch": "s"})
    page = await client.assistants.search(
        metadata={"batch": "s"}, graph_id="echo", limit=2, sort_by="name", sort_order="asc", response_format="object"
    )
    assert [a["name"] for a in page["assistants"]] == ["Bot 0", "Bot 1"] and page["next"] == "2"
    last = await client.assistants.search(
        metadata={"batch": "s"}, graph_id="echo", limit=2, offset=4, sort_by="name", response_format="object"
    )
    assert len(last["assistants"]) == 1 and last["next"] is None
    assert await client.assistants.count(metadata={"batch": "s"}) == 6
    assert await client.assistants.count(name="bot 3") == 1
    selected = await client.assistants.search(name="Other", select=["assistant_id", "name"])
    assert selected == [{"assistant_id": selected[0]["assistant_id"], "name": "Other"}]


async def test_assistants_are_private_to_their_owner_but_defaults_are_shared(server_url, make_account, admin):
    owner, other = sdk(server_url, await make_account("fay")), sdk(server_url, await make_account("gil"))
    mine = await owner.assistants.create("echo", name="Private")
    for call in (
        other.assistants.get(mine["assistant_id"]),
        other.assistants.update(mine["assistant_id"], name="Stolen"),
        other.assistants.delete(mine["assistant_id"]),
    ):
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await call
        assert caught.value.response.status_code == 404
    assert all(a["assistant_id"] != mine["assistant_id"] for a in await other.assistants.search(limit=100))
    assert (await other.assistants.get("echo"))["graph_id"] == "echo"
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await other.assistants.delete("echo")
    assert caught.value.response.status_code == 403
    as_admin = sdk(server_url, admin)
    assert (await as_admin.assistants.get(mine["assistant_id"]))["name"] == "Private"
    await owner.assistants.delete(mine["assistant_id"])
    with pytest.raises(httpx.HTTPStatusError):
        await owner.assistants.get(mine["assistant_id"])


async def test_graph_schemas_and_subgraphs_describe_the_graph(server_url, make_account):
    client = sdk(server_url, await make_account("hu"))
    drawn = await client.assistants.get_graph("echo")
    assert {node["id"] for node in drawn["nodes"]} >= {"__start__", "echo", "__end__"}
    schemas = await client.assistants.get_schemas("echo")
    assert schemas["graph_id"] == "echo"
    assert set(schemas["input_schema"]["properties"]) == {"messages", "count"}
    assert set(schemas["state_schema"]["properties"]) == {"messages", "count"}
    subgraphs = await client.assistants.get_subgraphs("nested")
    assert list(subgraphs) == ["inner"] and "text" in subgraphs["inner"]["input_schema"]["properties"]


async def test_a_graph_factory_is_built_with_the_assistants_config(server_url, make_account):
    client = sdk(server_url, await make_account("ivy"))
    assistant = await client.assistants.create("configurable", config={"configurable": {"prefix": "hi"}})
    drawn = await client.assistants.get_graph(assistant["assistant_id"])
    assert {node["id"] for node in drawn["nodes"]} >= {"speak"}


async def test_deleting_an_assistant_interrupts_its_runs_and_deletes_its_crons(server_url, make_account):
    client = sdk(server_url, await make_account("gil"))
    doomed = (await client.assistants.create("slow", name="doomed"))["assistant_id"]
    kept = (await client.assistants.create("slow", name="kept"))["assistant_id"]
    thread = (await client.threads.create())["thread_id"]
    kept_thread = (await client.threads.create())["thread_id"]
    long, yearly = {"steps": [], "delay": 30}, "0 0 1 1 *"
    running = (await client.runs.create(thread, doomed, input=long))["run_id"]
    for _ in range(500):  # until a worker has taken it up
        if (await client.runs.get(thread, running))["status"] == "running":
            break
        await asyncio.sleep(0.02)
    queued = (await client.runs.create(thread, doomed, input=long))["run_id"]
    other = (await client.runs.create(kept_thread, kept, input=long))["run_id"]
    await client.crons.create(doomed, schedule=yearly, input=long)
    await client.crons.create_for_thread(thread, doomed, schedule=yearly)
    kept_cron = await client.crons.create(kept, schedule=yearly)

    await client.assistants.delete(doomed)

    assert [(await client.runs.get(thread, r))["status"] for r in (running, queued)] == ["interrupted"] * 2
    assert [c["cron_id"] for c in await client.crons.search()] == [kept_cron["cron_id"]]
    # The deleted assistant's run stops and frees its thread; another assistant's run goes on.
    await client.runs.join(thread, running)
    assert (await client.threads.get(thread))["status"] == "idle"
    assert (await client.runs.get(kept_thread, other))["status"] in ("pending", "running")
    await client.runs.cancel(kept_thread, other, wait=True)

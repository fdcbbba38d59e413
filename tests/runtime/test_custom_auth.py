"""langgraph.json custom auth (`@auth.authenticate`, `@auth.on`) with the official client."""

from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import assert_error

CUSTOM_AUTH = Path(__file__).parent / "graphs" / "custom_auth.json"


@pytest.fixture
def settings(settings):
    settings.runtime.graphs_config = CUSTOM_AUTH
    return settings


def as_user(server_url: str, name: str):
    return get_client(url=server_url, api_key=None, headers={"Authorization": f"Bearer user-{name}"})


async def test_the_authenticate_handler_admits_its_users_and_refuses_others(server_url):
    ann = as_user(server_url, "ann")
    thread = await ann.threads.create()
    assert thread["metadata"]["owner"] == "ann"  # stamped by @auth.on.threads.create
    assert (await ann.runs.wait(thread["thread_id"], "echo", input={"messages": ["hi"]}))["count"] == 1
    async with httpx.AsyncClient(base_url=server_url) as http:
        assert_error(await http.get("/threads/" + thread["thread_id"], headers={"Authorization": "Bearer nope"}), 401)
        assert_error(await http.post("/threads/search", json={}), 401)


async def test_on_handlers_filter_and_deny(server_url, admin):
    ann, ben = as_user(server_url, "ann"), as_user(server_url, "ben")
    thread = await ann.threads.create()
    tid = thread["thread_id"]
    # Ben is another loopdesk user and fails the handler's owner filter on top of that.
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await ben.threads.get(tid)
    assert caught.value.response.status_code == 404
    assert await ben.threads.search() == []
    # The admin passes loopdesk's scoping, but the handler's filter (owner = admin's identity) still applies.
    async with httpx.AsyncClient(base_url=server_url, headers=admin.headers) as http:
        assert_error(await http.get(f"/threads/{tid}"), 404)
        assert (await http.post("/threads/search", json={})).json() == []
        assert_error(await http.post(f"/threads/{tid}/runs", json={"assistant_id": "echo"}), 404)
    async with httpx.AsyncClient(base_url=server_url, headers={"Authorization": "Bearer user-reader"}) as http:
        assert_error(await http.post("/threads", json={}), 403)


async def test_store_handlers_rewrite_the_namespace(server_url):
    ann = as_user(server_url, "ann")
    await ann.store.put_item(["notes"], "n1", {"text": "hello"})
    assert (await ann.store.get_item(["notes"], "n1"))["value"] == {"text": "hello"}
    namespaces = (await ann.store.list_namespaces())["namespaces"]
    assert namespaces == [["by-identity", "ann", "notes"]]


async def test_assistant_and_cron_handlers_stamp_deny_and_filter(server_url):
    ann = as_user(server_url, "ann")
    assistant = await ann.assistants.create("echo", name="mine")
    assert assistant["metadata"]["owner"] == "ann"
    async with httpx.AsyncClient(base_url=server_url, headers={"Authorization": "Bearer user-ann"}) as http:
        assert_error(await http.delete(f"/assistants/{assistant['assistant_id']}"), 403)
    cron = await ann.crons.create("echo", schedule="0 9 * * *")
    assert cron["metadata"]["owner"] == "ann"
    assert [c["cron_id"] for c in await ann.crons.search()] == [cron["cron_id"]]

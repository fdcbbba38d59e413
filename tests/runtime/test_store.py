"""The long-term memory store over real HTTP with the official langgraph-sdk client."""

from langgraph_sdk import get_client

from tests.conftest import assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def test_put_get_search_and_delete_items(server_url, make_account):
    client = sdk(server_url, await make_account("sto"))
    await client.store.put_item(["prefs", "ui"], "theme", {"mode": "dark", "size": 12})
    await client.store.put_item(["prefs", "ui"], "lang", {"mode": "zh", "size": 1})
    await client.store.put_item(["notes"], "n1", {"text": "call back"}, ttl=60)
    item = await client.store.get_item(["prefs", "ui"], "theme")
    assert item["namespace"] == ["prefs", "ui"] and item["value"] == {"mode": "dark", "size": 12}
    found = await client.store.search_items(["prefs"], filter={"mode": "zh"})
    assert [i["key"] for i in found["items"]] == ["lang"]
    everything = await client.store.search_items([], limit=10)
    assert {i["key"] for i in everything["items"]} == {"theme", "lang", "n1"}
    await client.store.put_item(["prefs", "ui"], "theme", {"mode": "light"})  # replaces
    assert (await client.store.get_item(["prefs", "ui"], "theme"))["value"] == {"mode": "light"}
    await client.store.delete_item(["prefs", "ui"], "theme")
    assert await client.store.get_item(["prefs", "ui"], "theme") is None  # as on LangGraph's server


async def test_namespaces_are_listed_by_prefix_suffix_and_depth(server_url, make_account):
    client = sdk(server_url, await make_account("nsp"))
    for namespace in (["a", "x", "1"], ["a", "y", "1"], ["b", "x"]):
        await client.store.put_item(namespace, "k", {"v": 1})
    listed = (await client.store.list_namespaces())["namespaces"]
    assert sorted(listed) == [["a", "x", "1"], ["a", "y", "1"], ["b", "x"]]
    assert sorted((await client.store.list_namespaces(prefix=["a"]))["namespaces"]) == [
        ["a", "x", "1"],
        ["a", "y", "1"],
    ]
    assert sorted((await client.store.list_namespaces(suffix=["x"]))["namespaces"]) == [["b", "x"]]
    assert sorted((await client.store.list_namespaces(max_depth=1))["namespaces"]) == [["a"], ["b"]]


async def test_each_user_sees_only_their_own_memory(server_url, make_account):
    alice, bob = sdk(server_url, await make_account("alm")), sdk(server_url, await make_account("bom"))
    await alice.store.put_item(["profile"], "email", {"address": "alice@example.com"})
    assert await bob.store.get_item(["profile"], "email") is None
    assert (await bob.store.search_items([]))["items"] == []
    assert (await bob.store.list_namespaces())["namespaces"] == []
    await bob.store.put_item(["profile"], "email", {"address": "bob@example.com"})
    await bob.store.delete_item(["profile"], "email")
    assert (await alice.store.get_item(["profile"], "email"))["value"]["address"] == "alice@example.com"


async def test_admins_see_every_users_space(server_url, make_account, admin):
    carol_account = await make_account("carol")
    carol = sdk(server_url, carol_account)
    await carol.store.put_item(["profile"], "email", {"address": "carol@example.com"})
    everything = sdk(server_url, admin)
    space = f"user:{carol_account.id}"
    assert [space, "profile"] in (await everything.store.list_namespaces())["namespaces"]
    item = await everything.store.get_item([space, "profile"], "email")
    assert item["value"]["address"] == "carol@example.com"


async def test_bad_store_requests_get_clear_errors(client, make_account):
    h = (await make_account("bad")).headers
    dotted = await client.put("/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}}, headers=h)
    assert_error(dotted, 422, "validation_error")
    empty = await client.put("/store/items", json={"namespace": [], "key": "k", "value": {}}, headers=h)
    assert_error(empty, 422)
    not_object = await client.put("/store/items", json={"namespace": ["a"], "key": "k", "value": [1]}, headers=h)
    assert_error(not_object, 422)
    missing = await client.get("/store/items", params={"namespace": "a", "key": "nope"}, headers=h)
    assert missing.status_code == 200 and missing.json() is None
    assert_error(await client.post("/store/items/search", json={"limit": 0}, headers=h), 422)
    assert_error(await client.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {}}), 401)


async def test_an_absurd_ttl_is_refused_not_crashed(client, make_account):
    h = (await make_account("ttl")).headers
    response = await client.put(
        "/store/items", json={"namespace": ["a"], "key": "k", "value": {}, "ttl": 1e308}, headers=h
    )
    assert_error(response, 422, "validation_error")


async def test_search_filters_take_comparison_operators_and_refuse_unknown_ones(client, make_account):
    h = (await make_account("flt")).headers
    for n in (1, 5, 9):
        await client.put("/store/items", json={"namespace": ["nums"], "key": str(n), "value": {"n": n}}, headers=h)
    found = await client.post("/store/items/search", json={"filter": {"n": {"$gt": 2, "$lt": 9}}}, headers=h)
    assert [item["key"] for item in found.json()["items"]] == ["5"]
    bad = await client.post("/store/items/search", json={"filter": {"n": {"$regex": "x"}}}, headers=h)
    assert "$regex" in assert_error(bad, 422, "validation_error")["detail"][0]["msg"]


async def test_a_nul_character_in_a_namespace_or_key_is_a_422_not_a_crash(client, make_account):
    account = await make_account("nul")
    got = await client.get("/store/items", params={"namespace": "\x00", "key": "k"}, headers=account.headers)
    assert_error(got, 422)
    put = await client.put(
        "/store/items", json={"namespace": ["a\x00"], "key": "k\x00", "value": {}}, headers=account.headers
    )
    assert_error(put, 422)

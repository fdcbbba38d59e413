from langgraph.store.memory import InMemoryStore

from loopdesk.runtime.store.scoped import ScopedStore


def test_a_scoped_view_prefixes_on_the_way_in_and_strips_on_the_way_out():
    inner = InMemoryStore()
    alice, bob = ScopedStore(inner, "user:a"), ScopedStore(inner, "user:b")
    alice.put(("memories",), "m1", {"text": "likes tea"})
    assert inner.get(("user:a", "memories"), "m1").value == {"text": "likes tea"}
    assert alice.get(("memories",), "m1").namespace == ("memories",)
    assert bob.get(("memories",), "m1") is None
    assert [i.namespace for i in alice.search(("memories",))] == [("memories",)]
    assert bob.search(()) == []
    assert alice.list_namespaces() == [("memories",)]
    assert alice.list_namespaces(max_depth=1) == [("memories",)]
    assert alice.supports_ttl == inner.supports_ttl


async def test_the_async_path_is_scoped_the_same_way():
    inner = InMemoryStore()
    view = ScopedStore(inner, "user:c")
    await view.aput(("a", "b"), "k", {"n": 1})
    assert (await view.aget(("a", "b"), "k")).value == {"n": 1}
    assert await view.alist_namespaces(prefix=("a",)) == [("a", "b")]
    assert await ScopedStore(inner, "user:d").alist_namespaces() == []

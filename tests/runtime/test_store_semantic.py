"""Semantic store search (pgvector) with the embedding langgraph.json names in store.index."""

from pathlib import Path

import pytest
from langgraph_sdk import get_client

SEMANTIC = Path(__file__).parent / "graphs" / "semantic.json"


@pytest.fixture
def settings(settings):
    settings.runtime.graphs_config = SEMANTIC
    return settings


async def test_query_ranks_items_by_meaning_within_the_callers_space(server_url, make_account):
    ada = get_client(url=server_url, api_key=None, headers=(await make_account("ada")).headers)
    bo = get_client(url=server_url, api_key=None, headers=(await make_account("bo")).headers)
    notes = {
        "refund": "customer asked for a refund of the annual plan",
        "login": "password reset email never arrives at login",
        "invoice": "invoice address must change for the annual plan",
    }
    for key, text in notes.items():
        await ada.store.put_item(["memories"], key, {"text": text})
    await ada.store.put_item(["memories"], "unindexed", {"text": "refund refund refund"}, index=False)
    await bo.store.put_item(["memories"], "bo-refund", {"text": "refund of the annual plan please"})

    found = (await ada.store.search_items(["memories"], query="refund for my annual plan", limit=3))["items"]
    assert [item["key"] for item in found][0] == "refund"
    assert all("score" in item for item in found)
    assert found[0]["score"] > found[-1]["score"]
    assert {item["key"] for item in found} <= {"refund", "login", "invoice"}  # neither bo's nor the unindexed one
    login = (await ada.store.search_items(["memories"], query="cannot login, reset password", limit=1))["items"]
    assert login[0]["key"] == "login"

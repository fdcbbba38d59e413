"""Webhooks on run completion, delivered by a queue job to a real server on 127.0.0.1."""

import asyncio

import pytest
from langgraph_sdk import get_client

from tests.receiver import receiver


@pytest.fixture
def settings(settings):
    settings.outbound.outbound_allowlist = ["127.0.0.1"]  # the receiver is on loopback
    return settings


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


async def test_the_finished_run_is_posted_to_its_webhook_with_retries(server_url, make_account):
    client = sdk(server_url, await make_account("ada"))
    async with receiver(fail_first=1) as hook:
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"], "echo", input={"messages": ["hook"]}, webhook=f"{hook.url}/hook"
        )
        await asyncio.wait_for(hook.arrived.wait(), timeout=30)
    assert len(hook.received) == 2  # the first attempt got a 500 and was retried
    body = hook.received[-1]["body"]
    assert body["run_id"] == run["run_id"] and body["status"] == "success"
    assert body["values"] == {"messages": ["hook", "echo: hook"], "count": 1}


async def test_a_webhook_to_a_loopback_address_not_allow_listed_is_never_sent(server_url, make_account):
    client = sdk(server_url, await make_account("bo"))
    async with receiver(host="127.0.0.2") as hook:  # reachable, but not on the allow-list
        run = await client.runs.create(None, "echo", input={"messages": ["x"]}, webhook=f"{hook.url}/hook")
        await client.runs.join(run["thread_id"], run["run_id"])
        await asyncio.sleep(1.5)
    assert hook.received == []

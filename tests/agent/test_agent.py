"""The general agent over HTTP: the offline model (the default) choosing tools from the registry,
asking for what is missing, answering from results; long-term memory across threads; usage recorded."""

from __future__ import annotations

from tests.tools.agents import make_agent, say, start_thread, tool_messages


async def test_the_default_agent_uses_the_offline_model_and_the_registry(client, make_account):
    customer = await make_account("offline")
    thread = await start_thread(client, customer.headers)
    values = await say(client, customer.headers, thread, "agent", "Where is my order ORD-7?")
    [tool] = tool_messages(values)
    assert tool["name"] == "lookup_order" and "delivered" in tool["content"]
    answer = values["messages"][-1]
    assert (
        answer["type"] == "ai" and answer["content"].startswith("(offline model)") and "delivered" in answer["content"]
    )


async def test_the_offline_model_asks_for_what_is_missing_then_waits_for_approval(client, make_account):
    customer = await make_account("refunder")
    thread = await start_thread(client, customer.headers)
    values = await say(client, customer.headers, thread, "agent", "I want a refund please")
    question = values["messages"][-1]
    assert question["type"] == "ai" and not question.get("tool_calls") and "order_id" in question["content"]
    values = await say(client, customer.headers, thread, "agent", "order ORD-5, amount 12.50")
    [interrupt] = values["__interrupt__"]
    assert interrupt["value"]["action"] == "refund_order"
    assert interrupt["value"]["params"] == {"order_id": "ORD-5", "amount": 12.5}


async def test_long_term_memory_is_per_user_and_outlives_the_thread(client, make_account):
    ann, bob = await make_account("ann"), await make_account("bob")
    saver = await make_agent(
        client,
        None,
        [
            {"tool_calls": [{"name": "remember", "args": {"fact": "Ann prefers email over phone"}}]},
            {"content": "Noted."},
        ],
        tools=["remember", "recall"],
    )
    recaller_turns = [{"tool_calls": [{"name": "recall", "args": {"query": "email"}}]}, {"content": "Found it."}]
    await say(client, ann.headers, await start_thread(client, ann.headers), saver, "remember I prefer email")

    recaller = await make_agent(client, None, recaller_turns, tools=["recall"])
    [found] = tool_messages(await say(client, ann.headers, await start_thread(client, ann.headers), recaller, "?"))
    assert "Ann prefers email over phone" in found["content"]

    theirs = await make_agent(client, None, recaller_turns, tools=["recall"])
    [nothing] = tool_messages(await say(client, bob.headers, await start_thread(client, bob.headers), theirs, "?"))
    assert "Ann" not in nothing["content"]


async def test_usage_is_recorded_per_run_and_scoped_to_the_caller(client, make_account, admin):
    ann, bob = await make_account("ann"), await make_account("bob")
    assistant = await make_agent(client, None, [{"content": "one two three four"}])
    thread = await start_thread(client, ann.headers)
    await say(client, ann.headers, thread, assistant, "count to four")
    [run] = (await client.get(f"/threads/{thread}/runs", headers=ann.headers)).json()
    mine = (await client.get(f"/api/v1/usage?run_id={run['run_id']}", headers=ann.headers)).json()
    assert mine["totals"]["calls"] == 1 and mine["totals"]["output_tokens"] == 4
    assert mine["items"][0]["model"] == "scripted" and mine["items"][0]["thread_id"] == thread
    assert (await client.get(f"/api/v1/usage?run_id={run['run_id']}", headers=bob.headers)).json()["totals"][
        "calls"
    ] == 0
    everyone = (await client.get(f"/api/v1/usage?user_id={ann.id}", headers=admin.headers)).json()
    assert everyone["totals"]["calls"] == 1

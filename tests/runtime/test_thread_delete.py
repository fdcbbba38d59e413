"""Every way a thread is deleted takes what is keyed by its id with it (tool calls, approvals, message
times), so that whoever creates a thread with that id again starts empty."""

import uuid

import psycopg
import pytest

from loopdesk.runtime.threads.tasks import sweep_expired_threads
from tests.tools.agents import make_agent, say, tool_messages

KEYED = ("tool_calls", "approvals", "thread_messages")


def _calculate(expression: str) -> list[dict]:
    # The scripted model names its tool call the same way every time, as a replayed client could.
    call = {"name": "calculator", "args": {"expression": expression}, "id": "call-1"}
    return [{"tool_calls": [call]}, {"content": "done"}]


async def test_a_thread_id_taken_again_after_delete_does_not_return_the_earlier_owners_tool_results(
    client, make_account
):
    first, second = await make_account("first"), await make_account("second")
    thread_id = str(uuid.uuid4())
    assert (await client.post("/threads", json={"thread_id": thread_id}, headers=first.headers)).status_code == 200
    earlier = await make_agent(client, None, _calculate("6 * 7"))
    assert [m["content"] for m in tool_messages(await say(client, first.headers, thread_id, earlier, "go"))] == ["42"]
    assert (await client.delete(f"/threads/{thread_id}", headers=first.headers)).status_code == 204

    assert (await client.post("/threads", json={"thread_id": thread_id}, headers=second.headers)).status_code == 200
    later = await make_agent(client, None, _calculate("2 + 2"))
    assert [m["content"] for m in tool_messages(await say(client, second.headers, thread_id, later, "go"))] == ["4"]
    approvals = await client.get(f"/api/v1/approvals?thread_id={thread_id}", headers=second.headers)
    assert approvals.status_code == 200 and approvals.json()["items"] == []


def _seed(database_url: str, thread_id: str) -> None:
    """A tool call, an approval and a message time stored for the thread, as its runs leave them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tool_calls (key, thread_id, tool_name, source, side_effect, args, status, result, is_error,"
            " attempts) VALUES (%s, %s, 'calculator', 'builtin', 'read', '{}', 'succeeded', '\"42\"', false, 1)",
            (f"{thread_id}:call-1", thread_id),
        )
        conn.execute(
            "INSERT INTO approvals (id, tool_call_key, tool_call_id, thread_id, tool_name, side_effect, args, status,"
            " expires_at) VALUES (gen_random_uuid(), %s, 'call-2', %s, 'refund', 'write', '{}', 'approved',"
            " now() + interval '1 hour')",
            (f"{thread_id}:call-2", thread_id),
        )
        conn.execute("INSERT INTO thread_messages (thread_id, message_id) VALUES (%s, 'm-1')", (thread_id,))


def _left(database_url: str, thread_id: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread_id,)).fetchone()[0]  # noqa: S608
            for table in KEYED
        }


async def _expire_and_sweep(app, database_url: str, thread_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE threads SET expires_at = now() - interval '1 second' WHERE thread_id = %s", (thread_id,))
    await sweep_expired_threads(app.state.database, app.state.persistence)


async def _delete_by_agent_protocol(client, app, database_url, headers) -> str:
    thread_id = (await client.post("/threads", json={}, headers=headers)).json()["thread_id"]
    _seed(database_url, thread_id)
    assert (await client.delete(f"/threads/{thread_id}", headers=headers)).status_code == 204
    return thread_id


async def _prune(client, app, database_url, headers) -> str:
    thread_id = (await client.post("/threads", json={}, headers=headers)).json()["thread_id"]
    _seed(database_url, thread_id)
    pruned = await client.post("/threads/prune", json={"thread_ids": [thread_id]}, headers=headers)
    assert pruned.json() == {"pruned_count": 1}
    return thread_id


async def _delete_session(client, app, database_url, headers) -> str:
    created = await client.post("/api/v1/sessions", json={}, headers=headers)
    thread_id = created.json()["session_id"]
    _seed(database_url, thread_id)
    assert (await client.delete(f"/api/v1/sessions/{thread_id}", headers=headers)).status_code == 204
    return thread_id


async def _ttl_sweep(client, app, database_url, headers) -> str:
    thread_id = (await client.post("/threads", json={"ttl": 5}, headers=headers)).json()["thread_id"]
    _seed(database_url, thread_id)
    await _expire_and_sweep(app, database_url, thread_id)
    return thread_id


async def _stateless_run(client, app, database_url, headers) -> str:
    """A stateless run's thread of its own is swept after a short grace."""
    waited = await client.post(
        "/runs/wait", json={"assistant_id": "echo", "input": {"messages": ["x"]}}, headers=headers
    )
    assert waited.status_code == 200, waited.text
    thread_id = waited.headers["Content-Location"].split("/")[2]
    _seed(database_url, thread_id)
    await _expire_and_sweep(app, database_url, thread_id)
    return thread_id


@pytest.mark.parametrize("delete", [_delete_by_agent_protocol, _prune, _delete_session, _ttl_sweep, _stateless_run])
async def test_every_way_of_deleting_a_thread_takes_its_tool_calls_approvals_and_messages(
    delete, client, make_account, app, database_url
):
    account = await make_account("deleter")
    kept = (await client.post("/threads", json={}, headers=account.headers)).json()["thread_id"]
    _seed(database_url, kept)
    deleted = await delete(client, app, database_url, account.headers)
    assert (await client.get(f"/threads/{deleted}", headers=account.headers)).status_code == 404
    assert _left(database_url, deleted) == dict.fromkeys(KEYED, 0)
    assert _left(database_url, kept) == dict.fromkeys(KEYED, 1)  # another thread's rows stay

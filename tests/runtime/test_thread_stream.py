"""Thread-centric streaming (`client.threads.stream`: protocol commands and event streams) over real
HTTP with the official langgraph-sdk, runs executed by the in-process queue worker."""

import asyncio

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.stream.transport import ProtocolSseTransport

from tests.conftest import assert_error

ALL = ["values", "updates", "lifecycle", "input", "custom", "tasks", "checkpoints"]


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


def _root_end(event: dict) -> bool:
    params = event["params"]
    return (
        event["method"] == "lifecycle"
        and not params["namespace"]
        and params["data"]["event"] in ("completed", "failed", "interrupted")
    )


async def _until_runs_end(handle, runs: int = 1) -> list[dict]:
    """Events of one stream until `runs` runs have ended (the stream itself stays open)."""
    events, ended = [], 0
    # A guard against a stream that never ends (it would hang the suite), not a timing assertion.
    async with asyncio.timeout(60):
        async for event in handle.events:
            events.append(event)
            ended += _root_end(event)
            if ended == runs:
                break
    await handle.close()
    return events


async def _transport(server_url: str, account, thread_id: str):
    http = httpx.AsyncClient(base_url=server_url, headers=account.headers, timeout=60)
    return http, ProtocolSseTransport(client=http, thread_id=thread_id)


async def test_run_start_creates_the_thread_and_the_sdk_thread_stream_sees_the_run_to_its_output(
    server_url, make_account
):
    client = sdk(server_url, await make_account("tess"))
    async with client.threads.stream(assistant_id="echo") as thread:
        result = await thread.run.start(input={"messages": ["hi"]})
        assert result["run_id"]
        assert await thread.output == {"messages": ["hi", "echo: hi"], "count": 1}
        events = [e async for e in _take(thread.events)]
    methods = [e["method"] for e in events]
    assert methods[0] == "lifecycle" and events[0]["params"]["data"]["event"] == "running"
    assert _root_end(events[-1]) and events[-1]["params"]["data"]["event"] == "completed"
    assert "values" in methods and "updates" in methods
    assert [e for e in events if e["method"] == "values"][-1]["params"]["data"]["messages"] == ["hi", "echo: hi"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    got = await client.threads.get(thread.thread_id)
    assert got["metadata"]["graph_id"] == "echo"


async def _take(events):
    async with asyncio.timeout(60):  # hang guard, not a timing assertion
        async for event in events:
            yield event
            if _root_end(event):
                return


async def test_the_stream_follows_the_threads_runs_in_order_and_resumes_after_since_or_last_event_id_exactly_once(
    server_url, make_account
):
    account = await make_account("rhea")
    client = sdk(server_url, account)
    thread_id = (await client.threads.create())["thread_id"]
    http, transport = await _transport(server_url, account, thread_id)
    async with http:
        for text in ("one", "two"):
            reply = await transport.send_command(
                {"id": 1, "method": "run.start", "params": {"assistant_id": "echo", "input": {"messages": [text]}}}
            )
            assert reply["type"] == "success" and reply["result"]["run_id"]
            await client.runs.join(thread_id, reply["result"]["run_id"])
        full = await _until_runs_end(transport.open_event_stream({"channels": ALL}), runs=2)
        assert [e["params"]["data"]["event"] for e in full if e["method"] == "lifecycle"] == [
            "running",
            "completed",
            "running",
            "completed",
        ]
        assert len({e["event_id"] for e in full}) == len(full)
        cut = len(full) // 2
        rest = await _until_runs_end(transport.open_event_stream({"channels": ALL, "since": full[cut]["seq"]}))
        assert rest == [_same_but_time(e, r) for e, r in zip(full[cut + 1 :], rest, strict=True)]

        # The same cursor as the SSE `Last-Event-ID` header (the body carries none).
        body = {"channels": ALL}
        headers = {"Last-Event-ID": str(full[cut]["seq"])}
        seen = []
        async with (
            asyncio.timeout(60),
            http.stream("POST", f"/threads/{thread_id}/stream/events", json=body, headers=headers) as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    seen.append(int(line[4:]))
                    if seen[-1] == full[-1]["seq"]:
                        break
        assert seen == [e["seq"] for e in full[cut + 1 :]]
    await transport.close()


def _same_but_time(expected: dict, got: dict) -> dict:
    """`expected` with the timestamp `got` was stamped with (a replay is stamped when it is sent)."""
    return {**expected, "params": {**expected["params"], "timestamp": got["params"]["timestamp"]}}


async def test_two_readers_of_a_thread_see_the_same_events(server_url, make_account):
    account = await make_account("ivo")
    client = sdk(server_url, account)
    thread_id = (await client.threads.create())["thread_id"]
    http, transport = await _transport(server_url, account, thread_id)
    async with http:
        first = transport.open_event_stream({"channels": ALL})
        second = transport.open_event_stream({"channels": ["values", "lifecycle"]})
        await first.ready
        await second.ready
        await transport.send_command(
            {"id": 7, "method": "run.start", "params": {"assistant_id": "slow", "input": {"steps": [], "delay": 0}}}
        )
        a, b = await asyncio.gather(_until_runs_end(first), _until_runs_end(second))
    await transport.close()
    assert [e["event_id"] for e in a if e["method"] in ("values", "lifecycle")] == [e["event_id"] for e in b]
    assert [e["params"]["data"] for e in a if e["method"] == "custom"] == [{"payload": {"progress": "first"}}]
    assert len(a) > len(b) > 2


async def test_an_interrupt_is_requested_as_input_and_answered_with_input_respond(server_url, make_account):
    client = sdk(server_url, await make_account("ines"))
    async with client.threads.stream(assistant_id="approval") as thread:
        await thread.run.start(input={"steps": []})
        events = [e async for e in _take(thread.events)]
        requested = [e for e in events if e["method"] == "input.requested"]
        assert len(requested) == 1 and requested[0]["params"]["data"]["payload"]["question"] == "approve?"
        assert events[-1]["params"]["data"]["event"] == "interrupted"
        await thread.run.respond("yes", interrupt_id=requested[0]["params"]["data"]["interrupt_id"])
    runs = await client.runs.list(thread.thread_id)
    await client.runs.join(thread.thread_id, runs[0]["run_id"])
    assert (await client.threads.get(thread.thread_id))["status"] == "idle"


async def test_another_customer_gets_404_for_commands_and_streams_of_a_thread_not_theirs(server_url, make_account):
    owner, other = await make_account("olga"), await make_account("otto")
    thread_id = (await sdk(server_url, owner).threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=server_url, headers=other.headers) as http:
        command = {"id": 1, "method": "run.start", "params": {"assistant_id": "echo", "input": {"messages": ["x"]}}}
        assert_error(await http.post(f"/threads/{thread_id}/commands", json=command), 404, "thread_not_found")
        respond = {"id": 2, "method": "input.respond", "params": {"interrupt_id": "i", "response": 1}}
        assert_error(await http.post(f"/threads/{thread_id}/commands", json=respond), 404, "thread_not_found")
        response = await http.post(f"/threads/{thread_id}/stream/events", json={"channels": ["values"]})
        assert_error(response, 404, "thread_not_found")
    assert await sdk(server_url, owner).runs.list(thread_id) == []


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"id": 3, "method": "run.start", "params": {}}, "invalid_argument"),
        ({"id": 3, "method": "run.stop", "params": {}}, "unknown_command"),
        ({"id": 3, "method": "input.respond", "params": {"interrupt_id": "nope", "response": 1}}, "no_such_interrupt"),
    ],
)
async def test_a_command_the_thread_cannot_take_answers_a_protocol_error(server_url, make_account, command, code):
    account = await make_account("pia")
    thread_id = (await sdk(server_url, account).threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=server_url, headers=account.headers) as http:
        response = await http.post(f"/threads/{thread_id}/commands", json=command)
    assert response.status_code == 200
    assert response.json() == {"type": "error", "id": 3, "error": code, "message": response.json()["message"]}

"""Thread-centric streaming (`client.threads.stream`: protocol commands and event streams) over real
HTTP with the official langgraph-sdk, runs executed by the in-process queue worker."""

import asyncio

import httpx
import pytest
from langchain_core.messages import AIMessageChunk
from langgraph_sdk import get_client
from langgraph_sdk.stream.transport import ProtocolSseTransport

from loopdesk.runtime.serde import to_jsonable
from loopdesk.runtime.threads.content_blocks import MessageStreams
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


# The events the reference server (`langgraph dev`) sends for the agent's first reply, captured from it:
# the fake model streams its words, then the tool call's arguments in two pieces.
FIRST_REPLY = [
    {"event": "content-block-start", "index": 0, "content": {"type": "text", "text": ""}},
    *[
        {"event": "content-block-delta", "index": 0, "delta": {"type": "text-delta", "text": word}}
        for word in ("Let", " ", "me", " ", "check")
    ],
    {
        "event": "content-block-start",
        "index": 1,
        "content": {"type": "tool_call_chunk", "id": "call-lookup-1", "name": "lookup_order", "args": "", "index": 0},
    },
    {"event": "content-block-delta", "index": 1, "delta": {"type": "tool-call-delta", "args": '{"ord'}},
    {"event": "content-block-delta", "index": 1, "delta": {"type": "tool-call-delta", "args": 'er_id": "A-17"}'}},
    {"event": "content-block-finish", "index": 0, "content": {"type": "text", "text": "Let me check"}},
    {
        "event": "content-block-finish",
        "index": 1,
        "content": {"type": "tool_call", "id": "call-lookup-1", "name": "lookup_order", "args": {"order_id": "A-17"}},
    },
    {"event": "message-finish"},
]


def _messages_by_id(events: list[dict]) -> dict[str, list[dict]]:
    """`messages` event data grouped by the message each belongs to (events follow their `message-start`)."""
    grouped: dict[str, list[dict]] = {}
    current = None
    for event in events:
        if event["method"] == "messages":
            data = event["params"]["data"]
            if data["event"] == "message-start":
                current = data["id"]
                grouped[current] = []
            grouped[current].append(data)
    return grouped


async def test_a_streamed_model_reply_reaches_thread_messages_with_its_text_and_tool_call_blocks(
    server_url, make_account
):
    account = await make_account("mona")
    client = sdk(server_url, account)
    async with client.threads.stream(assistant_id="tool_agent") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "where is A-17?"}]})
        streams = []
        async with asyncio.timeout(60):  # hang guard, not a timing assertion
            async for stream in thread.messages:  # ends with the run
                streams.append(stream)
        outputs = [await stream.output for stream in streams]
    assert [m.text for m in outputs] == ["Let me check", "Good news: order A-17 has shipped"]
    assert [(c["name"], c["args"], c["id"]) for c in outputs[0].tool_calls] == [
        ("lookup_order", {"order_id": "A-17"}, "call-lookup-1")
    ]
    assert outputs[1].tool_calls == []
    state = (await client.threads.get_state(thread.thread_id))["values"]["messages"]
    assert [m.id for m in outputs] == [state[1]["id"], state[3]["id"]]  # the ids the thread keeps

    # The wire events, block by block, as the reference sends them.
    events = [e async for e in _take(_replay(server_url, account, thread.thread_id))]
    first, second = _messages_by_id(events).values()
    assert first[0] == {"event": "message-start", "role": "ai", "id": outputs[0].id}
    assert first[1:] == FIRST_REPLY
    assert [e["event"] for e in second] == [
        "message-start",
        "content-block-start",
        *["content-block-delta"] * 11,
        "content-block-finish",
        "message-finish",
    ]
    assert all(e["params"]["namespace"] == [] for e in events if e["method"] == "messages")


async def _replay(server_url: str, account, thread_id: str):
    """The thread's events from its start, on every channel."""
    http, transport = await _transport(server_url, account, thread_id)
    handle = transport.open_event_stream({"channels": [*ALL, "messages"]})
    try:
        async for event in handle.events:
            yield event
    finally:
        await handle.close()
        await transport.close()
        await http.aclose()


async def test_a_subgraph_is_started_and_completed_on_its_namespace_and_its_messages_stream_there(
    server_url, make_account
):
    account = await make_account("nils")
    client = sdk(server_url, account)
    thread_id = (await client.threads.create())["thread_id"]
    http, transport = await _transport(server_url, account, thread_id)
    async with http:
        reply = await transport.send_command(
            {
                "id": 1,
                "method": "run.start",
                "params": {
                    "assistant_id": "nested_agent",
                    "input": {"messages": [{"role": "user", "content": "A-17?"}]},
                },
            }
        )
        assert reply["type"] == "success"
        events = await _until_runs_end(transport.open_event_stream({"channels": [*ALL, "messages"]}))
    await transport.close()
    lifecycle = [(e["params"]["namespace"], e["params"]["data"]) for e in events if e["method"] == "lifecycle"]
    child = lifecycle[1][0]
    assert len(child) == 1 and child[0].startswith("subgraph_agent:")
    task_id = child[0].split(":", 1)[1]
    assert lifecycle == [
        ([], {"event": "running", "graph_name": "nested_agent"}),
        (
            child,
            {"event": "started", "namespace": child, "graph_name": "subgraph_agent", "trigger_call_id": task_id},
        ),
        (child, {"event": "completed", "graph_name": "subgraph_agent"}),
        ([], {"event": "completed", "graph_name": "nested_agent"}),
    ]
    methods = [(e["method"], e["params"]["namespace"]) for e in events]
    started, completed = (
        i for i, e in enumerate(events) if e["method"] == "lifecycle" and e["params"]["namespace"] == child
    )
    messages = [i for i, (method, _) in enumerate(methods) if method == "messages"]
    assert messages and all(methods[i][1] == child for i in messages) and started < messages[0] < completed
    assert [data[0]["event"] for data in _messages_by_id(events).values()] == ["message-start"] * 2


def test_a_model_that_names_its_message_still_finishes_it_when_langchain_ends_the_stream_under_the_run_id():
    meta = {"langgraph_checkpoint_ns": "agent:t1"}
    chunks = [
        AIMessageChunk(content="Hi", id="chatcmpl-1"),
        AIMessageChunk(content="", id="lc_run--r1", chunk_position="last"),  # what LangChain appends
        AIMessageChunk(content="", id="lc_run--r1", chunk_position="last"),  # a stray end: nothing
    ]
    streams = MessageStreams()
    events = [data for chunk in chunks for _, data in streams.chunk([], [to_jsonable(chunk), meta])]
    assert [e["event"] for e in events] == [
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-finish",
        "message-finish",
    ]
    assert events[0]["id"] == "chatcmpl-1" and events[3]["content"] == {"type": "text", "text": "Hi"}
    assert not streams.open

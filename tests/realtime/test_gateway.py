"""The WebSocket gateway against a real uvicorn server with a real client (`websockets`): every frame
received is validated against the protocol's JSON Schema (tests/realtime/wsclient.py)."""

import asyncio
import json
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loopdesk.realtime.protocol import schema_text
from tests.realtime.wsclient import SCHEMA_PATH, WS, ws_url


async def _thread(client, account, assistant: str = "chat") -> str:
    created = await client.post("/threads", json={"metadata": {"assistant_id": assistant}}, headers=account.headers)
    assert created.status_code == 200, created.text
    return created.json()["thread_id"]


NIL = "00000000-0000-0000-0000-000000000000"


def _tokens(frames: list[dict]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")


# -- the protocol document --------------------------------------------------------------------------


def test_the_committed_schema_is_the_one_the_models_generate():
    assert SCHEMA_PATH.read_text() == schema_text(), "run: python -m loopdesk.realtime.protocol > " + str(SCHEMA_PATH)


async def test_the_schema_is_served_to_authenticated_callers(client, make_account):
    account = await make_account("schema")
    assert (await client.get("/api/v1/realtime/schema")).status_code == 401
    served = await client.get("/api/v1/realtime/schema", headers=account.headers)
    assert served.status_code == 200 and served.json()["$defs"]["ServerFrame"]


# -- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-token", "ldk_bogus_key"])
async def test_no_or_bad_token_closes_with_4401_before_any_data(server_url, token):
    async with connect(ws_url(server_url, token)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4401


async def test_an_api_key_and_the_authorization_header_authenticate(server_url, client, make_account):
    account = await make_account("keys")
    key = (await client.post("/api/v1/api-keys", json={"name": "ws"}, headers=account.headers)).json()["key"]
    by_key = await WS.open(server_url, key)
    assert (await by_key.request({"type": "ping"}))["type"] == "pong"
    await by_key.close()
    async with connect(ws_url(server_url), additional_headers=account.headers) as ws:
        await ws.send(json.dumps({"type": "ping", "id": "p"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"


async def test_the_console_cookie_is_refused_from_another_origin(server_url, make_account):
    account = await make_account("cookie")
    cookie = {"Cookie": f"loopdesk_session={account.token}"}
    async with connect(ws_url(server_url), additional_headers=cookie, origin=server_url) as ws:
        await ws.send(json.dumps({"type": "ping", "id": "same-origin"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"
    async with connect(ws_url(server_url), additional_headers=cookie, origin="https://evil.example") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4403


# -- messages, tokens, tools, approvals ---------------------------------------------------------------


async def test_a_message_streams_the_reply_token_by_token(server_url, client, make_account):
    account = await make_account("chat")
    thread_id = await _thread(client, account)
    ws = await WS.open(server_url, account.token)
    ack = await ws.request({"type": "message", "thread_id": thread_id, "content": "hello?"})
    assert ack["of"] == "message" and ack["thread_id"] == thread_id
    frames = await ws.until("message_complete")
    assert frames[0]["type"] == "user_message" and frames[0]["content"] == "hello?"
    assert frames[0]["user_id"] == account.id
    assert len([f for f in frames if f["type"] == "token"]) >= 3  # streamed word by word
    assert _tokens(frames) == "hello there friend"
    assert frames[-1] == {**frames[-1], "status": "success", "run_id": ack["run_id"], "thread_id": thread_id}
    assert all(f["event_id"].startswith(ack["run_id"] + ":") for f in frames)
    state = await client.get(f"/threads/{thread_id}/state", headers=account.headers)
    assert [m["content"] for m in state.json()["values"]["messages"]] == ["hello?", "hello there friend"]
    await ws.close()


async def test_an_untitled_session_is_named_after_its_first_message_over_the_socket(server_url, client, make_account):
    account = await make_account("titled")
    created = await client.post("/api/v1/sessions", json={"assistant_id": "chat"}, headers=account.headers)
    session_id = created.json()["session_id"]
    assert created.json()["title"] is None
    ws = await WS.open(server_url, account.token)
    await ws.request({"type": "message", "thread_id": session_id, "content": "  Where is   my parcel?  "})
    await ws.until("message_complete")
    await ws.request({"type": "message", "thread_id": session_id, "content": "and another thing"})
    await ws.until("message_complete")
    await ws.close()
    session = await client.get(f"/api/v1/sessions/{session_id}", headers=account.headers)
    assert session.json()["title"] == "Where is my parcel?"


async def test_a_message_without_a_thread_starts_one_with_the_default_assistant(server_url, client, make_account):
    account = await make_account("new")
    ws = await WS.open(server_url, account.token)
    ack = await ws.request({"type": "message", "content": "start"})
    frames = await ws.until("message_complete")
    assert _tokens(frames) == "hello there friend"
    thread = await client.get(f"/threads/{ack['thread_id']}", headers=account.headers)
    assert thread.status_code == 200 and thread.json()["metadata"]["graph_id"] == "chat"
    await ws.close()


async def test_messages_sent_while_a_run_is_active_queue_behind_it(server_url, client, make_account):
    account = await make_account("queue")
    thread_id = await _thread(client, account, "story")
    ws = await WS.open(server_url, account.token)
    acks = [await ws.request({"type": "message", "thread_id": thread_id, "content": f"m{i}"}) for i in range(3)]
    for ack in acks:
        await ws.until("message_complete", run_id=ack["run_id"])
    kinds = ("user_message", "message_complete")
    order = [(f["type"], f.get("content")) for f in ws.received if f["type"] in kinds]
    assert order == [
        ("user_message", "m0"), ("message_complete", None),
        ("user_message", "m1"), ("message_complete", None),
        ("user_message", "m2"), ("message_complete", None),
    ]  # fmt: skip
    runs = (await client.get(f"/threads/{thread_id}/runs", headers=account.headers)).json()
    assert sorted(r["status"] for r in runs) == ["success"] * 3
    await ws.close()


@pytest.mark.parametrize(
    ("response", "result"),
    [
        ({"decision": "approve"}, "refunded A-17 20"),
        ({"decision": "edit", "args": {"order_id": "A-17", "amount": 5}}, "refunded A-17 5"),
        ({"decision": {"type": "reject", "message": "over the limit"}}, "not done: over the limit"),
        ({"approved": False, "message": "no"}, "not done: no"),  # the seeds' shorthand
    ],
)
async def test_a_tool_approval_round_trip(server_url, client, make_account, response, result):
    account = await make_account("approver")
    thread_id = await _thread(client, account, "refund")
    ws = await WS.open(server_url, account.token)
    await ws.request({"type": "message", "thread_id": thread_id, "content": "refund my order"})
    frames = await ws.until("message_complete")
    call = next(f for f in frames if f["type"] == "tool_call")
    assert call["tool"] == "refund_order" and call["args"] == {"order_id": "A-17", "amount": 20}
    interrupt = next(f for f in frames if f["type"] == "interrupt")
    assert interrupt["action"] == "refund_order" and interrupt["params"] == call["args"]
    assert frames[-1]["status"] == "interrupted"

    ack = await ws.request(
        {"type": "interrupt_response", "thread_id": thread_id, "interrupt_id": interrupt["interrupt_id"], **response}
    )
    assert ack["type"] == "ack", ack
    frames = await ws.until("message_complete", run_id=ack["run_id"])
    tool_result = next(f for f in frames if f["type"] == "tool_result")
    assert tool_result["result"] == result and tool_result["id"] == call["id"]
    assert _tokens(frames) == f"Done: {result}"
    assert frames[-1]["status"] == "success"
    await ws.close()


async def test_a_clarification_is_its_own_frame_and_a_reply_answers_it(server_url, client, make_account):
    account = await make_account("clarify")
    thread_id = await _thread(client, account, "clarify")
    ws = await WS.open(server_url, account.token)
    await ws.request({"type": "message", "thread_id": thread_id, "content": "where is my order"})
    frames = await ws.until("message_complete")
    clarification = next(f for f in frames if f["type"] == "clarification")
    assert clarification["message"] == "Which order do you mean?"
    ack = await ws.request(
        {"type": "interrupt_response", "thread_id": thread_id, "decision": "edit", "args": {"order": "A-1"}}
    )
    frames = await ws.until("message_complete", run_id=ack["run_id"])
    assert _tokens(frames).startswith("Looking at")
    await ws.close()


# -- devices, reconnects ----------------------------------------------------------------------------


async def test_two_devices_see_the_same_frames_in_the_same_order(server_url, client, make_account):
    account = await make_account("devices")
    thread_id = await _thread(client, account, "story")
    phone, laptop = await WS.open(server_url, account.token), await WS.open(server_url, account.token)
    for device in (phone, laptop):
        assert (await device.request({"type": "subscribe", "thread_id": thread_id}))["of"] == "subscribe"
    first = await phone.request({"type": "message", "thread_id": thread_id, "content": "from the phone"})
    second = await laptop.request({"type": "message", "thread_id": thread_id, "content": "from the laptop"})
    await asyncio.gather(*(d.until("message_complete", run_id=second["run_id"]) for d in (phone, laptop)))
    seen = [
        [(f["event_id"], f["type"]) for f in d.received if not f["event_id"].startswith("~")] for d in (phone, laptop)
    ]
    assert seen[0] == seen[1]
    users = [f["content"] for f in laptop.received if f["type"] == "user_message"]
    assert users == ["from the phone", "from the laptop"]  # the phone's message showed on the laptop
    assert {f["run_id"] for f in laptop.received if f["type"] == "message_complete"} == {
        first["run_id"],
        second["run_id"],
    }
    await phone.close()
    await laptop.close()


async def test_a_reconnect_resumes_after_the_last_event_exactly_once(server_url, client, make_account):
    account = await make_account("resume")
    thread_id = await _thread(client, account, "story")
    witness = await WS.open(server_url, account.token)  # stays connected throughout
    await witness.request({"type": "subscribe", "thread_id": thread_id})
    ws = await WS.open(server_url, account.token)
    ack = await ws.request({"type": "message", "thread_id": thread_id, "content": "tell me a story"})
    before = [await ws.recv() for _ in range(8)]
    await ws.close()  # dropped mid-stream: the run goes on
    await asyncio.sleep(0.3)

    again = await WS.open(server_url, account.token)
    resumed = await again.request({"type": "resume", "thread_id": thread_id, "last_event_id": before[-1]["event_id"]})
    assert resumed["of"] == "resume"
    after = await again.until("message_complete", run_id=ack["run_id"])
    expected = await witness.until("message_complete", run_id=ack["run_id"])
    ids = [f["event_id"] for f in before + after if not f["event_id"].startswith("~")]
    assert ids == [f["event_id"] for f in expected]  # no gap, no duplicate
    assert len(ids) == len(set(ids))
    assert _tokens(before + after) == " ".join(f"w{i}" for i in range(40))

    # A later run on the thread continues live on the resumed subscription.
    mark = len(again.received)
    later = await again.request({"type": "message", "thread_id": thread_id, "content": "another"})
    await again.until("message_complete", run_id=later["run_id"])
    # The run's frames may start before the ack arrives (the follower sees the run as soon as it commits).
    frames = [f for f in again.received[mark:] if f.get("run_id") == later["run_id"] and f["type"] != "ack"]
    assert frames[0]["type"] == "user_message" and frames[-1]["type"] == "message_complete"
    for socket_ in (witness, again):
        await socket_.close()


async def test_resume_from_a_finished_run_replays_later_runs(server_url, client, make_account):
    account = await make_account("later")
    thread_id = await _thread(client, account)
    ws = await WS.open(server_url, account.token)
    first = await ws.request({"type": "message", "thread_id": thread_id, "content": "one"})
    first_frames = await ws.until("message_complete", run_id=first["run_id"])
    await ws.close()
    await client.post(
        f"/threads/{thread_id}/runs/wait",
        json={"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": "two"}]}},
        headers=account.headers,
    )
    again = await WS.open(server_url, account.token)
    await again.request({"type": "resume", "thread_id": thread_id, "last_event_id": first_frames[-1]["event_id"]})
    frames = await again.until("message_complete")
    assert frames[0]["type"] == "user_message" and frames[0]["content"] == "two"
    await again.close()


# -- backpressure, heartbeats -----------------------------------------------------------------------


async def test_a_slow_reader_blocks_no_one_and_gets_every_event_later(app, server_url, client, make_account):
    account = await make_account("slow")
    thread_id = await _thread(client, account, "bulk")  # 300 custom events of 48 KB: more than socket buffers hold
    # The slow device reads nothing for now: a small receive window, no client-side queue, no pings.
    raw = socket.create_connection(("127.0.0.1", int(server_url.rsplit(":", 1)[1])))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow_client = await connect(
        ws_url(server_url, account.token), sock=raw, max_queue=1, max_size=None, ping_interval=None
    )
    slow = WS(slow_client)
    await slow.request({"type": "subscribe", "thread_id": thread_id})
    fast = await WS.open(server_url, account.token, max_size=None)
    ack = await fast.request({"type": "message", "thread_id": thread_id, "content": "bulk please"})
    fast_frames = await fast.until("message_complete", run_id=ack["run_id"], within=60)
    assert [f["data"]["i"] for f in fast_frames if f["type"] == "custom"] == list(range(300))
    run = await client.get(f"/threads/{thread_id}/runs/{ack['run_id']}", headers=account.headers)
    assert run.json()["status"] == "success"  # the run did not wait for the slow reader
    behind = min(connection.frames_sent for connection in app.state.realtime.connections)
    assert behind < len(fast_frames)  # ... which really was stuck behind its full socket

    slow_frames = await slow.until("message_complete", run_id=ack["run_id"], within=60)
    assert [f["event_id"] for f in slow_frames] == [f["event_id"] for f in fast_frames]
    await slow.close()
    await fast.close()


async def test_a_dead_peer_is_dropped_after_the_ping_timeout(app, make_account):
    import uvicorn

    from loopdesk.realtime.gateway import websocket_options

    app.state.settings.realtime.ws_ping_seconds = 0.5
    app.state.settings.realtime.ws_ping_timeout_seconds = 0.5
    options = websocket_options(app.state.settings.realtime)
    server = uvicorn.Server(uvicorn.Config(app, port=0, lifespan="off", log_config=None, **options))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    account = await make_account("dead")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /ws?token={account.token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    assert b"101" in await reader.readline()
    gateway = app.state.realtime
    for _ in range(50):
        if gateway.connections:
            break
        await asyncio.sleep(0.05)
    assert len(gateway.connections) == 1
    # Never answer the server's pings (0.5 s interval, 0.5 s timeout here): dropped within a few seconds.
    for _ in range(100):
        if not gateway.connections:
            break
        await asyncio.sleep(0.1)
    assert not gateway.connections
    writer.close()
    server.should_exit = True
    await serving


# -- rate limits and bad input ----------------------------------------------------------------------


async def test_the_eleventh_message_in_ten_seconds_is_rate_limited(server_url, client, make_account):
    account = await make_account("limited")
    thread_id = await _thread(client, account)
    ws = await WS.open(server_url, account.token)
    replies = [await ws.request({"type": "message", "thread_id": thread_id, "content": f"m{i}"}) for i in range(11)]
    assert [r["type"] for r in replies] == ["ack"] * 10 + ["error"]
    assert replies[-1]["code"] == "rate_limited" and 1 <= replies[-1]["retry_after"] <= 10
    assert (await ws.request({"type": "ping"}))["type"] == "pong"  # still connected
    other = await _thread(client, account)  # the limit is per thread
    assert (await ws.request({"type": "message", "thread_id": other, "content": "x"}))["type"] == "ack"
    await ws.close()


async def test_bad_frames_get_error_frames_and_the_connection_stays_open(server_url, client, make_account):
    account = await make_account("bad")
    stranger = await make_account("stranger")
    theirs = await _thread(client, stranger)
    mine = await _thread(client, account)
    ws = await WS.open(server_url, account.token)
    cases = [
        ("{not json", "malformed_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"content": "no type"}), "unknown_type"),
        (json.dumps({"type": "shout"}), "unknown_type"),
        (json.dumps({"type": "message", "thread_id": mine}), "invalid_frame"),
        (json.dumps({"type": "message", "thread_id": "nope", "content": "x"}), "invalid_frame"),
        (json.dumps({"type": "message", "thread_id": mine, "content": "x" * 10_001}), "content_too_long"),
        (json.dumps({"type": "message", "thread_id": mine, "content": "x" * 70_000}), "frame_too_large"),
        (json.dumps({"type": "message", "thread_id": theirs, "content": "hi"}), "thread_not_found"),
        (json.dumps({"type": "subscribe", "thread_id": theirs}), "thread_not_found"),
        (json.dumps({"type": "subscribe"}), "invalid_frame"),
        (json.dumps({"type": "resume", "thread_id": theirs, "last_event_id": "x:1:0"}), "thread_not_found"),
        (json.dumps({"type": "resume", "thread_id": mine, "last_event_id": "garbage"}), "invalid_event_id"),
        (json.dumps({"type": "resume", "thread_id": mine, "last_event_id": f"{NIL}:1:0"}), "event_not_found"),
        (json.dumps({"type": "interrupt_response", "thread_id": mine, "approved": True}), "thread_not_interrupted"),
        (json.dumps({"type": "interrupt_response", "thread_id": mine}), "invalid_frame"),
        (json.dumps({"type": "interrupt_response", "thread_id": mine, "decision": "edit"}), "invalid_frame"),
        (json.dumps({"type": "interrupt_response", "thread_id": theirs, "decision": "approve"}), "thread_not_found"),
        (json.dumps({"type": "subscribe_task", "task_id": NIL}), "task_not_found"),
        (json.dumps({"type": "message", "thread_id": mine, "content": "x", "assistant_id": "?"}),
         "assistant_not_found"),
    ]  # fmt: skip
    for raw, code in cases:
        await ws.send_raw(raw)
        reply = await ws.recv()
        assert reply["type"] == "error" and reply["code"] == code, (raw[:80], reply)
        assert "Traceback" not in reply["message"]
    await ws.send_raw(b"\x00\x01binary")
    assert (await ws.recv())["code"] == "binary_not_supported"
    assert (await ws.request({"type": "ping"}))["type"] == "pong"
    # The stranger's thread saw nothing.
    runs = await client.get(f"/threads/{theirs}/runs", headers=stranger.headers)
    assert runs.json() == []
    await ws.close()


async def test_an_oversized_transport_frame_closes_only_that_connection(server_url, make_account):
    account = await make_account("huge")
    bystander = await WS.open(server_url, account.token)
    async with connect(ws_url(server_url, account.token), max_size=None) as ws:
        await ws.send("x" * (2 * 1024 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 1009  # message too big
    assert (await bystander.request({"type": "ping"}))["type"] == "pong"
    await bystander.close()


async def test_a_socket_closes_with_4401_when_its_token_expires(app, server_url, make_account):
    import uuid
    from datetime import timedelta

    from loopdesk.core.security import create_access_token

    account = await make_account("expiring")
    token, _ = create_access_token(uuid.UUID(account.id), key=app.state.settings.jwt_key, ttl=timedelta(seconds=2))
    ws = await WS.open(server_url, token)
    assert (await ws.request({"type": "ping"}))["type"] == "pong"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv(within=10)
    assert closed.value.rcvd.code == 4401 and closed.value.rcvd.reason == "token expired"


async def test_a_connection_follows_a_bounded_number_of_threads(app, server_url, client, make_account):
    app.state.realtime.settings.ws_max_subscriptions = 2
    account = await make_account("greedy")
    threads = [await _thread(client, account) for _ in range(3)]
    ws = await WS.open(server_url, account.token)
    for thread_id in threads[:2]:
        assert (await ws.request({"type": "subscribe", "thread_id": thread_id}))["type"] == "ack"
    refused = await ws.request({"type": "message", "thread_id": threads[2], "content": "hi"})
    assert refused["code"] == "too_many_subscriptions"
    runs = await client.get(f"/threads/{threads[2]}/runs", headers=account.headers)
    assert runs.json() == []  # refused before anything was created
    await ws.request({"type": "unsubscribe", "thread_id": threads[0]})
    assert (await ws.request({"type": "subscribe", "thread_id": threads[2]}))["type"] == "ack"
    await ws.close()

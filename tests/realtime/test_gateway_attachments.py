"""Files sent with a WebSocket `message` frame (ids of files uploaded to the session), against a real uvicorn
server and a real client whose every frame is checked against the protocol's JSON Schema."""

from __future__ import annotations

import uuid

from tests.realtime.wsclient import WS

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


async def _session_with_file(client, account) -> tuple[str, dict]:
    created = await client.post("/api/v1/sessions", json={"assistant_id": "chat"}, headers=account.headers)
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    files = [("file", ("crash.png", PNG, "image/png"))]
    uploaded = await client.post(f"/api/v1/sessions/{session_id}/attachments", files=files, headers=account.headers)
    assert uploaded.status_code == 201, uploaded.text
    return session_id, uploaded.json()[0]


async def test_a_message_frame_sends_the_sessions_files_with_the_text(server_url, client, make_account):
    account = await make_account("wsfiles")
    session_id, shot = await _session_with_file(client, account)
    ws = await WS.open(server_url, account.token)
    ack = await ws.request(
        {"type": "message", "thread_id": session_id, "content": "it crashed", "attachments": [shot["id"]]}
    )
    assert ack["type"] == "ack" and ack["thread_id"] == session_id, ack
    frames = await ws.until("message_complete")
    await ws.close()
    assert frames[0]["type"] == "user_message"
    assert frames[0]["content"] == f"it crashed\n[attached: crash.png (image/png, {len(PNG)} B)]"
    assert frames[-1]["status"] == "success"

    history = await client.get(f"/api/v1/sessions/{session_id}/messages", headers=account.headers)
    said = history.json()["items"][0]
    assert (said["role"], said["content"], said["run_id"]) == ("user", "it crashed", ack["run_id"])
    assert said["attachments"] == [{k: shot[k] for k in ("id", "filename", "content_type", "size")}]


async def test_files_that_are_not_the_callers_on_that_session_get_an_error_frame(server_url, client, make_account):
    account, other = await make_account("wsmine"), await make_account("wsother")
    session_id, _ = await _session_with_file(client, account)
    _, foreign = await _session_with_file(client, other)
    ws = await WS.open(server_url, account.token)

    refused = await ws.request(
        {"type": "message", "thread_id": session_id, "content": "look", "attachments": [foreign["id"]]}
    )
    assert (refused["type"], refused["code"], refused["thread_id"]) == ("error", "attachment_not_found", session_id)
    assert refused["detail"]["attachment_ids"] == [foreign["id"]]

    unsaid = await ws.request({"type": "message", "content": "look", "attachments": [str(uuid.uuid4())]})
    assert (unsaid["type"], unsaid["code"]) == ("error", "invalid_frame")
    assert "`attachments` need the `thread_id`" in unsaid["message"]
    # Nothing ran: the session has no messages, and the socket still works.
    assert (await ws.request({"type": "ping"}))["type"] == "pong"
    await ws.close()
    history = await client.get(f"/api/v1/sessions/{session_id}/messages", headers=account.headers)
    assert history.json()["items"] == []

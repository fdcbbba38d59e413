"""Files in the customer chat: uploaded to a session (checked as feedback attachments are), listed and served to
its owner and staff, sent with a message by id, shown on the message in the history and the replay."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from langchain_core.messages import HumanMessage

from loopdesk.core.settings import Settings
from loopdesk.sessions.attachment_repository import SessionAttachmentRepository
from loopdesk.support.conversations.service import record_event
from tests.conftest import assert_error
from tests.sessions.conftest import execute, new_session
from tests.tools.agents import make_agent

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(50)
LOG = b"2026-12-03 10:00:01 ERROR checkout failed: card declined\n"
MAX_BYTES = 2 * 1024 * 1024
MAX_FILES = 3
LOOKED = [{"expect": r"\[attached: shot\.png \(image/png, 66 B\)\]", "content": "I see your screenshot."}]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.attachments.attachment_max_bytes = MAX_BYTES
    settings.attachments.attachment_max_files = MAX_FILES
    return settings


async def _upload(http, headers, sid: str, *files: tuple[str, bytes, str]):
    parts = [("file", file) for file in files]
    return await http.post(f"/api/v1/sessions/{sid}/attachments", files=parts, headers=headers)


async def _uploaded(http, headers, sid: str, *files: tuple[str, bytes, str]) -> list[dict]:
    response = await _upload(http, headers, sid, *files)
    assert response.status_code == 201, response.text
    return response.json()


async def _listed(http, headers, sid: str) -> list[dict]:
    response = await http.get(f"/api/v1/sessions/{sid}/attachments", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_owner_uploads_files_lists_them_and_downloads_their_bytes(http, app, make_account):
    customer = await make_account("files")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]

    shot, log = await _uploaded(
        http, customer.headers, sid, ("shot.png", PNG, "image/png"), ("app.log", LOG, "application/octet-stream")
    )
    assert {k: shot[k] for k in ("filename", "content_type", "size", "sha256")} == {
        "filename": "shot.png",
        "content_type": "image/png",
        "size": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }
    assert set(shot) == {"id", "filename", "content_type", "size", "sha256", "created_at"}
    assert (log["filename"], log["content_type"]) == ("app.log", "text/plain")  # sniffed: UTF-8 text
    assert [a["id"] for a in await _listed(http, customer.headers, sid)] == [shot["id"], log["id"]]

    image = await http.get(f"/api/v1/sessions/{sid}/attachments/{shot['id']}", headers=customer.headers)
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith('inline; filename="shot.png"')
    assert image.headers["x-content-type-options"] == "nosniff"
    text = await http.get(f"/api/v1/sessions/{sid}/attachments/{log['id']}", headers=customer.headers)
    assert text.content == LOG and text.headers["content-disposition"].startswith('attachment; filename="app.log"')
    assert_error(
        await http.get(f"/api/v1/sessions/{sid}/attachments/{uuid.uuid4()}", headers=customer.headers),
        404,
        "attachment_not_found",
    )
    # Deleting the session deletes its files.
    assert (await http.delete(f"/api/v1/sessions/{sid}", headers=customer.headers)).status_code == 204
    gone = await http.get(f"/api/v1/sessions/{sid}/attachments/{shot['id']}", headers=customer.headers)
    assert_error(gone, 404, "session_not_found")
    async with app.state.database.sessionmaker() as db:
        assert await SessionAttachmentRepository(db).list(uuid.UUID(sid)) == []


async def test_another_customer_gets_404_and_staff_may_read_but_not_add(http, make_account):
    customer, other = await make_account("owner"), await make_account("other")
    staff = await make_account("agent", role="staff")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    [shot] = await _uploaded(http, customer.headers, sid, ("shot.png", PNG, "image/png"))
    one = f"/api/v1/sessions/{sid}/attachments/{shot['id']}"

    assert_error(await http.get(f"/api/v1/sessions/{sid}/attachments", headers=other.headers), 404, "session_not_found")
    assert_error(await http.get(one, headers=other.headers), 404, "session_not_found")
    assert_error(await _upload(http, other.headers, sid, ("x.txt", b"x", "text/plain")), 404, "session_not_found")

    assert [a["id"] for a in await _listed(http, staff.headers, sid)] == [shot["id"]]
    assert (await http.get(one, headers=staff.headers)).content == PNG
    assert_error(await _upload(http, staff.headers, sid, ("x.txt", b"x", "text/plain")), 403, "forbidden")
    assert (await http.get(one)).status_code == 401
    assert len(await _listed(http, customer.headers, sid)) == 1


async def test_a_file_larger_than_allowed_is_refused_with_413_and_nothing_is_stored(http, make_account):
    customer = await make_account("big")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    # Above the API's general body limit (1 MiB), within the attachments' own.
    [big] = await _uploaded(http, customer.headers, sid, ("big.log", b"a" * (1536 * 1024), "text/plain"))
    assert big["size"] == 1536 * 1024

    too_big = await _upload(
        http,
        customer.headers,
        sid,
        ("ok.txt", b"fine", "text/plain"),
        ("huge.log", b"a" * (MAX_BYTES + 1), "text/plain"),
    )
    error = assert_error(too_big, 413, "attachment_too_large")
    assert error["detail"] == {"filename": "huge.log", "max_bytes": MAX_BYTES}
    assert [a["filename"] for a in await _listed(http, customer.headers, sid)] == ["big.log"]


async def test_a_file_of_a_type_not_allowed_or_not_its_declared_type_is_refused_with_415(http, make_account):
    customer = await make_account("types")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    for name, data, declared, reason in [
        ("tool.exe", b"MZ\x90\x00" + bytes(20), "application/x-msdownload", None),
        ("fake.png", b"not an image at all", "image/png", "content_mismatch"),
    ]:
        error = assert_error(await _upload(http, customer.headers, sid, (name, data, declared)), 415)
        assert error["code"] == "attachment_type_not_allowed" and error["detail"]["filename"] == name
        assert error["detail"].get("reason") == reason
    assert await _listed(http, customer.headers, sid) == []


async def test_more_files_than_a_session_may_hold_are_refused_with_409(http, make_account):
    customer = await make_account("many")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    await _uploaded(http, customer.headers, sid, ("1.txt", b"one", "text/plain"), ("2.txt", b"two", "text/plain"))

    refused = await _upload(http, customer.headers, sid, ("3.txt", b"3", "text/plain"), ("4.txt", b"4", "text/plain"))
    error = assert_error(refused, 409, "too_many_attachments")
    assert error["detail"] == {"max_files": MAX_FILES, "existing": 2, "adding": 2}
    assert [a["filename"] for a in await _listed(http, customer.headers, sid)] == ["1.txt", "2.txt"]
    await _uploaded(http, customer.headers, sid, ("3.txt", b"3", "text/plain"))  # up to the limit is fine


async def test_files_sent_with_a_message_reach_the_model_and_show_in_the_history_and_the_replay(
    http, client, app, make_account
):
    customer = await make_account("sender")
    assistant = await make_agent(client, None, LOOKED)
    sid = (await new_session(http, customer.headers, assistant_id=assistant))["session_id"]
    shot, log = await _uploaded(
        http, customer.headers, sid, ("shot.png", PNG, "image/png"), ("app.log", LOG, "text/plain")
    )
    sent = [{k: a[k] for k in ("id", "filename", "content_type", "size")} for a in (shot, log)]

    result = await execute(http, customer.headers, sid, "Why does checkout fail?", attachments=[shot["id"], log["id"]])
    assert result.status_code == 200, result.text
    outcome = result.json()
    assert outcome["status"] == "success", outcome  # the script's `expect` saw the file's line
    asked, answered = outcome["messages"]
    assert (asked["role"], asked["content"], asked["attachments"]) == ("user", "Why does checkout fail?", sent)
    assert (answered["content"], answered["attachments"]) == ("I see your screenshot.", [])

    history = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=customer.headers)).json()["items"]
    assert [(m["role"], m["content"], m["attachments"]) for m in history] == [
        ("user", "Why does checkout fail?", sent),
        ("assistant", "I see your screenshot.", []),
    ]
    # What the graph holds: the text, a line per file, and the files' facts.
    state = (await http.get(f"/threads/{sid}/state", headers=customer.headers)).json()["values"]["messages"][0]
    said = HumanMessage(content=state["content"], additional_kwargs=state["additional_kwargs"]).text
    lines = ["[attached: shot.png (image/png, 66 B)]", f"[attached: app.log (text/plain, {len(LOG)} B)]"]
    assert said == "\n".join(["Why does checkout fail?", *lines])
    assert state["additional_kwargs"] == {"attachments": sent}

    # The support supervisor records a customer's message as its text: the replay links the files it lists.
    async with app.state.database.sessionmaker() as db, db.begin():
        await record_event(db, thread_id=uuid.UUID(sid), kind="message", data={"role": "user", "text": said.strip()})
        await record_event(db, thread_id=uuid.UUID(sid), kind="message", data={"role": "user", "text": "no files"})
    replay = (await http.get(f"/api/v1/replay/{sid}", headers=customer.headers)).json()["items"]
    assert [e["data"].get("attachments") for e in replay if e["kind"] == "message"] == [sent, None]


async def test_an_id_not_uploaded_to_this_session_by_the_caller_is_refused_and_nothing_runs(http, client, make_account):
    customer, other = await make_account("mine"), await make_account("theirs")
    sid = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    elsewhere = (await new_session(http, customer.headers, assistant_id="chat"))["session_id"]
    theirs = (await new_session(http, other.headers, assistant_id="chat"))["session_id"]
    [mine] = await _uploaded(http, customer.headers, elsewhere, ("shot.png", PNG, "image/png"))
    [foreign] = await _uploaded(http, other.headers, theirs, ("shot.png", PNG, "image/png"))

    for ids in ([mine["id"]], [foreign["id"]], [str(uuid.uuid4())]):
        refused = await execute(http, customer.headers, sid, "look", attachments=ids)
        error = assert_error(refused, 404, "attachment_not_found")
        assert error["detail"]["attachment_ids"] == ids
    too_many = await execute(http, customer.headers, sid, "look", attachments=[str(uuid.uuid4()) for _ in range(11)])
    assert_error(too_many, 422, "validation_error")
    session = (await http.get(f"/api/v1/sessions/{sid}", headers=customer.headers)).json()
    assert session["message_count"] == 0 and session["status"] == "idle"
    runs = (await http.get(f"/threads/{sid}/runs", headers=customer.headers)).json()
    assert runs == []

"""Attachments of feedback tasks over HTTP, on a real migrated database: intake with files, uploads, who sees
which files, limits, and how files are served back."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from pathlib import Path

import httpx
import psycopg
import pytest

from loopdesk.core.settings import AttachmentSettings, ServerSettings, Settings
from tests.conftest import Account, assert_error, suite_settings

MAX_BYTES = 64 * 1024
MAX_FILES = 3
BODY_LIMIT = 16 * 1024  # the server's limit for other bodies: below one allowed file
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
LOG = "2026-03-01T10:00:00Z ERROR auth login failed 登录失败\n".encode()
CRASH = {"title": "App crashes on login", "description": "Every time I tap login the app crashes and closes."}
EXPORT = {"title": "CSV export misses the last row", "description": "Exporting the invoice list drops the final line."}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    settings = suite_settings(database_url, tmp_path / "data")
    settings.server = ServerSettings(env="test", max_body_bytes=BODY_LIMIT, _env_file=None)
    settings.attachments = AttachmentSettings(
        attachment_max_bytes=MAX_BYTES, attachment_max_files=MAX_FILES, _env_file=None
    )
    settings.feedback.feedback_workflow = False  # intake and files alone: the workflow has its own tests
    return settings


def _files(*files: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", file) for file in files]


async def report(
    client: httpx.AsyncClient, account: Account, *files: tuple[str, bytes, str], fields: dict | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/feedback", data=fields or CRASH, files=_files(*files) or None, headers=account.headers
    )


async def upload(client: httpx.AsyncClient, account: Account, task: str, *files) -> httpx.Response:
    return await client.post(f"/api/v1/tasks/{task}/attachments", files=_files(*files), headers=account.headers)


async def listed(client: httpx.AsyncClient, account: Account, task: str) -> list[dict]:
    response = await client.get(f"/api/v1/tasks/{task}/attachments", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names


class TestIntakeWithFiles:
    async def test_a_multipart_report_creates_the_task_and_its_files_together(self, client, make_account) -> None:
        alice = await make_account("alice")
        fields = {**CRASH, "affected_modules": ["auth", "mobile"], "phone": ""}
        response = await report(
            client, alice, ("shot.png", PNG, "image/png"), ("app.log", LOG, "text/plain"), fields=fields
        )
        assert response.status_code == 201, response.text
        body = response.json()
        task = body["task"]
        assert (task["title"], task["affected_modules"], task["issue_type"]) == (
            CRASH["title"],
            ["auth", "mobile"],
            "bug",
        )
        files = body["attachments"]
        assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [
            ("shot.png", "image/png", len(PNG)),
            ("app.log", "text/plain", len(LOG)),
        ]
        assert files[1]["sha256"] == hashlib.sha256(LOG).hexdigest() and files[0]["uploaded_by"] == alice.id
        assert await listed(client, alice, task["task_number"]) == files
        events = (await client.get(f"/api/v1/tasks/{task['id']}/timeline", headers=alice.headers)).json()
        added = [e for e in events if e["kind"] == "attachment_added"]
        assert [(e["to_value"], e["actor_id"], e["data"]["attachment_id"]) for e in added] == [
            (f["filename"], alice.id, f["id"]) for f in files
        ]

    async def test_a_json_report_works_as_before(self, client, make_account) -> None:
        alice = await make_account("alice")
        response = await client.post("/api/v1/feedback", json=CRASH, headers=alice.headers)
        assert response.status_code == 201, response.text
        assert response.json()["attachments"] == []
        assert_error(
            await client.post("/api/v1/feedback", content=b"{not json", headers=alice.headers | _JSON),
            400,
            "invalid_json",
        )
        error = assert_error(await client.post("/api/v1/feedback", json={"title": "x"}, headers=alice.headers), 422)
        assert [problem["loc"] for problem in error["detail"]] == [["body", "description"]]

    @pytest.mark.parametrize(
        ("files", "status", "code"),
        [
            (
                (("shot.png", b"<html><script>alert(1)</script></html>", "image/png"),),
                415,
                "attachment_type_not_allowed",
            ),
            ((("tool.exe", b"MZ\x90\x00", "application/x-msdownload"),), 415, "attachment_type_not_allowed"),
            (
                (("app.log", LOG, "text/plain"), ("big.log", b"x" * (MAX_BYTES + 1), "text/plain")),
                413,
                "attachment_too_large",
            ),
            (tuple((f"{i}.log", LOG, "text/plain") for i in range(MAX_FILES + 1)), 409, "too_many_attachments"),
            ((("empty.log", b"", "text/plain"),), 422, "attachment_empty"),
        ],
    )
    async def test_a_bad_file_stores_nothing(self, client, make_account, database_url, files, status, code) -> None:
        alice = await make_account("alice")
        assert_error(await report(client, alice, *files), status, code)
        assert (_count(database_url, "tasks"), _count(database_url, "task_attachments")) == (0, 0)

    @pytest.mark.parametrize(
        ("fields", "loc"),
        [
            ({"description": CRASH["description"]}, ["body", "title"]),
            ({**CRASH, "colour": "red"}, ["body", "colour"]),
            ({**CRASH, "source_channel": "fax"}, ["body", "source_channel"]),
            ({**CRASH, "title": "nul \u0000 inside"}, ["body", "title"]),
        ],
    )
    async def test_form_fields_are_validated_as_the_json_body_is(self, client, make_account, fields, loc) -> None:
        alice = await make_account("alice")
        error = assert_error(await report(client, alice, ("app.log", LOG, "text/plain"), fields=fields), 422)
        assert loc in [problem["loc"] for problem in error["detail"]]

    async def test_files_must_come_in_file_parts(self, client, make_account) -> None:
        alice = await make_account("alice")
        response = await client.post(
            "/api/v1/feedback", data=CRASH, files=[("screenshot", ("a.png", PNG, "image/png"))], headers=alice.headers
        )
        assert ["body", "screenshot"] in [p["loc"] for p in assert_error(response, 422)["detail"]]

    async def test_other_body_types_are_refused(self, client, make_account) -> None:
        alice = await make_account("alice")
        response = await client.post(
            "/api/v1/feedback", content=b"title=x", headers=alice.headers | {"Content-Type": "text/plain"}
        )
        assert_error(response, 415, "unsupported_media_type")

    async def test_only_uploads_get_the_larger_body_limit(self, client, make_account) -> None:
        alice = await make_account("alice")
        big = b"x" * (BODY_LIMIT * 2)  # over the server's body limit, within an attachment's
        response = await report(client, alice, ("big.log", big, "text/plain"))
        assert response.status_code == 201, response.text
        long_json = {**CRASH, "description": "y" * (BODY_LIMIT + 1)}
        assert_error(await client.post("/api/v1/feedback", json=long_json, headers=alice.headers), 413)

    async def test_the_files_of_a_duplicate_go_to_the_original_for_staff_only(self, client, make_account) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        sam = await make_account("sam", role="staff")
        first = (await report(client, alice, ("alice.png", PNG, "image/png"))).json()["task"]
        joined = await report(client, bob, ("bob.log", LOG, "text/plain"))
        assert joined.status_code == 200, joined.text
        assert joined.json()["linked"] is True and joined.json()["task"]["id"] == first["id"]
        bob_file = joined.json()["attachments"][0]
        assert [f["filename"] for f in await listed(client, sam, first["id"])] == ["alice.png", "bob.log"]
        assert [f["filename"] for f in await listed(client, alice, first["id"])] == ["alice.png"]
        assert_error(
            await client.get(f"/api/v1/tasks/{first['id']}/attachments/{bob_file['id']}", headers=alice.headers),
            404,
            "attachment_not_found",
        )
        # The joiner follows the original's progress, not its files (not even the ones they sent).
        for path in ("", f"/{bob_file['id']}"):
            response = await client.get(f"/api/v1/tasks/{first['id']}/attachments{path}", headers=bob.headers)
            assert_error(response, 404, "task_not_found")
        assert_error(await upload(client, bob, first["id"], ("more.log", LOG, "text/plain")), 404, "task_not_found")


_JSON = {"Content-Type": "application/json"}


class TestUploads:
    async def test_the_reporter_and_staff_add_files_and_see_what_they_may(self, client, make_account, admin) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        sam = await make_account("sam", role="staff")
        task = (await client.post("/api/v1/feedback", json=CRASH, headers=alice.headers)).json()["task"]
        mine = await upload(client, alice, task["task_number"], ("shot.png", PNG, "image/png"))
        assert mine.status_code == 201, mine.text
        staff = await upload(client, sam, task["id"], ("server.log", LOG, "text/plain"))
        assert staff.status_code == 201, staff.text
        assert [f["filename"] for f in await listed(client, alice, task["id"])] == ["shot.png"]
        for viewer in (sam, admin):
            assert [f["filename"] for f in await listed(client, viewer, task["id"])] == ["shot.png", "server.log"]
        # Another customer learns nothing, not even that the task exists.
        for response in (
            await upload(client, bob, task["id"], ("x.log", LOG, "text/plain")),
            await client.get(f"/api/v1/tasks/{task['id']}/attachments", headers=bob.headers),
            await client.get(f"/api/v1/tasks/{task['id']}/attachments/{mine.json()[0]['id']}", headers=bob.headers),
        ):
            assert_error(response, 404, "task_not_found")

    async def test_a_task_holds_at_most_the_configured_number_of_files(self, client, make_account) -> None:
        alice = await make_account("alice")
        task = (await report(client, alice, ("a.log", LOG, "text/plain"), ("b.log", LOG, "text/plain"))).json()["task"]
        refused = await upload(client, alice, task["id"], ("c.log", LOG, "text/plain"), ("d.log", LOG, "text/plain"))
        assert assert_error(refused, 409, "too_many_attachments")["detail"] == {
            "max_files": MAX_FILES,
            "existing": 2,
            "adding": 2,
        }
        assert (await upload(client, alice, task["id"], ("c.log", LOG, "text/plain"))).status_code == 201
        assert len(await listed(client, alice, task["id"])) == MAX_FILES

    async def test_a_file_over_the_limit_is_refused_while_it_streams(self, client, make_account, database_url) -> None:
        alice = await make_account("alice")
        task = (await client.post("/api/v1/feedback", json=CRASH, headers=alice.headers)).json()["task"]
        boundary = "b0undary"
        sent = 0

        async def body() -> AsyncGenerator[bytes, None]:  # 50 MiB announced by nothing: no Content-Length
            nonlocal sent
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.log"\r\n'
                "Content-Type: text/plain\r\n\r\n"
            ).encode()
            for _ in range(50 * 16):
                sent += 64 * 1024
                yield b"x" * (64 * 1024)
            yield f"\r\n--{boundary}--\r\n".encode()

        response = await client.post(
            f"/api/v1/tasks/{task['id']}/attachments",
            content=body(),
            headers=alice.headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        error = assert_error(response, 413, "attachment_too_large")
        assert error["detail"] == {"filename": "huge.log", "max_bytes": MAX_BYTES}
        assert sent <= 4 * MAX_BYTES  # the rest of the body was never read
        assert _count(database_url, "task_attachments") == 0
        exact = await upload(client, alice, task["id"], ("edge.log", b"x" * MAX_BYTES, "text/plain"))
        assert exact.status_code == 201 and exact.json()[0]["size"] == MAX_BYTES

    async def test_an_upload_needs_files_and_only_files(self, client, make_account) -> None:
        alice = await make_account("alice")
        task = (await client.post("/api/v1/feedback", json=CRASH, headers=alice.headers)).json()["task"]
        path = f"/api/v1/tasks/{task['id']}/attachments"
        error = assert_error(await client.post(path, files=[("note", (None, b"x"))], headers=alice.headers), 422)
        assert {tuple(p["loc"]) for p in error["detail"]} == {("body", "note"), ("body", "file")}
        assert_error(await client.post(path, json={"file": "x"}, headers=alice.headers), 415, "unsupported_media_type")

    async def test_callers_without_credentials_are_refused(self, client, make_account) -> None:
        alice = await make_account("alice")
        task = (await client.post("/api/v1/feedback", json=CRASH, headers=alice.headers)).json()["task"]
        path = f"/api/v1/tasks/{task['id']}/attachments"
        assert_error(await client.post(path, files=_files(("a.log", LOG, "text/plain"))), 401)
        assert_error(await client.get(path), 401)
        assert_error(await client.get(f"{path}/{task['id']}"), 401)
        assert_error(await client.post("/api/v1/feedback", data=CRASH, files=_files(("a.log", LOG, "text/plain"))), 401)


class TestDownloads:
    async def test_files_come_back_as_stored_and_never_sniffed(self, client, make_account) -> None:
        alice = await make_account("alice")
        response = await report(client, alice, ("截图.png", PNG, "image/png"), ("../../app.log", LOG, "text/plain"))
        body = response.json()
        task, (image, log) = body["task"], body["attachments"]
        assert log["filename"] == "app.log"
        shown = await client.get(f"/api/v1/tasks/{task['id']}/attachments/{image['id']}", headers=alice.headers)
        assert shown.status_code == 200 and shown.content == PNG
        assert shown.headers["content-type"] == "image/png"
        assert (
            shown.headers["content-disposition"]
            == "inline; filename=\"__.png\"; filename*=UTF-8''%E6%88%AA%E5%9B%BE.png"
        )
        saved = await client.get(f"/api/v1/tasks/{task['task_number']}/attachments/{log['id']}", headers=alice.headers)
        assert saved.content == LOG and saved.headers["content-type"].startswith("text/plain")
        assert saved.headers["content-disposition"].startswith('attachment; filename="app.log"')
        for served in (shown, saved):
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in served.headers["content-security-policy"]

    async def test_an_attachment_is_found_only_under_its_own_task(self, client, make_account) -> None:
        alice = await make_account("alice")
        first = (await report(client, alice, ("a.log", LOG, "text/plain"))).json()
        other = (await client.post("/api/v1/feedback", json=EXPORT, headers=alice.headers)).json()["task"]
        attachment = first["attachments"][0]["id"]
        response = await client.get(f"/api/v1/tasks/{other['id']}/attachments/{attachment}", headers=alice.headers)
        assert_error(response, 404, "attachment_not_found")
        missing = f"/api/v1/tasks/{first['task']['id']}/attachments/00000000-0000-0000-0000-000000000000"
        assert_error(await client.get(missing, headers=alice.headers), 404, "attachment_not_found")


async def test_the_openapi_document_describes_both_intake_bodies(client) -> None:
    document = (await client.get("/openapi.json")).json()
    content = document["paths"]["/api/v1/feedback"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = content["multipart/form-data"]["schema"]["properties"]
    assert form["file"]["items"] == {"type": "string", "format": "binary"}
    assert set(content["application/json"]["schema"]["properties"]) == set(form) - {"file"}
    upload_body = document["paths"]["/api/v1/tasks/{task}/attachments"]["post"]["requestBody"]["content"]
    assert list(upload_body) == ["multipart/form-data"]


def test_the_limits_come_from_loopdesk_variables(monkeypatch) -> None:
    monkeypatch.setenv("LOOPDESK_ATTACHMENT_MAX_BYTES", "2048")
    monkeypatch.setenv("LOOPDESK_ATTACHMENT_MAX_FILES", "4")
    monkeypatch.setenv("LOOPDESK_ATTACHMENT_CONTENT_TYPES", "image/png, Text/Plain")
    attachments = Settings.load().attachments
    assert (attachments.attachment_max_bytes, attachments.attachment_max_files) == (2048, 4)
    assert attachments.attachment_content_types == ["image/png", "text/plain"]
    monkeypatch.delenv("LOOPDESK_ATTACHMENT_CONTENT_TYPES")
    assert "application/pdf" in Settings.load().attachments.attachment_content_types

"""Reading uploaded files without the HTTP layer: safe names, and each file's type against its bytes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator

import pytest
from starlette.datastructures import Headers

from loopdesk.core.settings import AttachmentSettings
from loopdesk.feedback.uploads import (
    AttachmentEmpty,
    AttachmentTooLarge,
    AttachmentTypeNotAllowed,
    InvalidMultipart,
    TooManyAttachments,
    read_multipart,
    safe_filename,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
BOUNDARY = "test-boundary-7f3a"


def _body(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    """Parts as (field, filename, content type, bytes); no filename: a text field."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def _stream(body: bytes, chunk: int = 1000) -> AsyncGenerator[bytes, None]:
    for start in range(0, len(body), chunk):
        yield body[start : start + chunk]


async def _read(*parts, settings: AttachmentSettings | None = None):
    headers = Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    settings = settings or AttachmentSettings(_env_file=None)
    return await read_multipart(headers, _stream(_body(*parts)), settings)


class TestSafeFilename:
    @pytest.mark.parametrize(
        ("raw", "safe"),
        [
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\amy\\Desktop\\shot.png", "shot.png"),
            ("crash\x00\x07\r\n log.txt", "crash log.txt"),
            ("invoice\u202egnp.exe", "invoicegnp.exe"),  # a right-to-left override would show it as exe.png
            ("zero\u200bwidth.txt", "zerowidth.txt"),
            ("..", "attachment"),
            ("   ", "attachment"),
            (".bashrc", "bashrc"),
            ("截图 2026-01-01.png", "截图 2026-01-01.png"),
        ],
    )
    def test_paths_and_control_characters_are_removed(self, raw: str, safe: str) -> None:
        assert safe_filename(raw) == safe

    def test_long_names_are_cut_to_255_characters_keeping_the_extension(self) -> None:
        name = safe_filename("a" * 400 + ".png")
        assert len(name) == 255 and name.endswith("a.png")
        assert len(safe_filename("界" * 300)) == 255


class TestReadMultipart:
    async def test_fields_and_files_are_read_with_size_and_digest(self) -> None:
        log = "2026-01-01 ERROR 登录失败\n".encode()
        form = await _read(
            ("title", None, None, b"Crash"),
            ("file", "shot.png", "image/png", PNG),
            ("file", "app.log", "text/plain; charset=utf-8", log),
        )
        try:
            assert form.fields == [("title", "Crash")]
            assert [(f.filename, f.content_type, f.size) for f in form.files] == [
                ("shot.png", "image/png", len(PNG)),
                ("app.log", "text/plain", len(log)),
            ]
            assert form.files[1].sha256 == hashlib.sha256(log).hexdigest()
            assert await form.files[0].read() == PNG
        finally:
            await form.aclose()

    @pytest.mark.parametrize(
        ("filename", "declared", "data", "stored"),
        [
            ("a.bin", "application/octet-stream", PNG, "image/png"),
            ("events.jsonl", None, b'{"a": 1}\n', "application/x-ndjson"),
            ("data.json", "application/octet-stream", b'{"a": 1}', "application/json"),
            ("notes", None, b"plain words", "text/plain"),
            ("logs.zip", "application/x-zip-compressed", b"PK\x03\x04rest", "application/zip"),
            ("logs.gz", "application/x-gzip", b"\x1f\x8b\x08rest", "application/gzip"),
            ("photo.jpg", "image/jpg", b"\xff\xd8\xff\xe0rest", "image/jpeg"),
            ("anim.gif", "image/gif", b"GIF89a rest", "image/gif"),
            ("pic.webp", "image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
            ("doc.pdf", "application/pdf", b"\n%PDF-1.7 rest", "application/pdf"),
            ("table.csv", "text/csv", "名前,値\n".encode(), "text/csv"),
        ],
    )
    async def test_the_stored_type_is_the_declared_one_or_what_the_bytes_say(
        self, filename: str, declared: str | None, data: bytes, stored: str
    ) -> None:
        form = await _read(("file", filename, declared, data))
        try:
            assert form.files[0].content_type == stored
        finally:
            await form.aclose()

    @pytest.mark.parametrize(
        ("filename", "declared", "data", "reason"),
        [
            ("shot.png", "image/png", b"<html><script>alert(1)</script></html>", "content_mismatch"),
            ("doc.pdf", "application/pdf", b"MZ\x90\x00 a Windows program", "content_mismatch"),
            ("app.log", "text/plain", PNG, "not_text"),
            ("data.json", "application/json", b"\xff\xfe\x00{", "not_text"),
            ("cut.txt", "text/plain", "日本".encode()[:-1], "not_text"),  # a truncated UTF-8 sequence
            ("page.html", "text/html", b"<html></html>", None),
            ("tool.exe", "application/x-msdownload", b"MZ\x90\x00", None),
            ("blob", "application/octet-stream", b"\x00\x01\x02\xff", None),
        ],
    )
    async def test_a_type_not_allowed_or_not_matching_the_bytes_is_refused(
        self, filename: str, declared: str, data: bytes, reason: str | None
    ) -> None:
        with pytest.raises(AttachmentTypeNotAllowed) as refused:
            await _read(("file", filename, declared, data))
        assert refused.value.detail.get("reason") == reason
        assert refused.value.detail["filename"] == filename

    async def test_the_configured_type_list_is_what_is_allowed(self) -> None:
        only_images = AttachmentSettings(attachment_content_types=["image/png"], _env_file=None)
        with pytest.raises(AttachmentTypeNotAllowed):
            await _read(("file", "app.log", "text/plain", b"words"), settings=only_images)
        form = await _read(("file", "a.png", "image/png", PNG), settings=only_images)
        await form.aclose()

    async def test_a_file_over_the_limit_stops_the_read_at_once(self) -> None:
        settings = AttachmentSettings(attachment_max_bytes=1000, _env_file=None)
        form = await _read(("file", "ok.txt", "text/plain", b"x" * 1000), settings=settings)
        await form.aclose()
        consumed = 0
        body = _body(("file", "big.txt", "text/plain", b"x" * 1_000_000))

        async def counting() -> AsyncGenerator[bytes, None]:
            nonlocal consumed
            async for chunk in _stream(body):
                consumed += len(chunk)
                yield chunk

        headers = Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
        with pytest.raises(AttachmentTooLarge) as refused:
            await read_multipart(headers, counting(), settings)
        assert refused.value.detail == {"filename": "big.txt", "max_bytes": 1000}
        assert consumed < 5000

    async def test_more_files_than_a_task_may_hold_are_refused(self) -> None:
        settings = AttachmentSettings(attachment_max_files=2, _env_file=None)
        with pytest.raises(TooManyAttachments):
            await _read(*[("file", f"{i}.txt", "text/plain", b"x") for i in range(3)], settings=settings)

    async def test_an_empty_file_is_refused_but_an_empty_file_input_is_skipped(self) -> None:
        with pytest.raises(AttachmentEmpty):
            await _read(("file", "empty.txt", "text/plain", b""))
        form = await _read(("title", None, None, b"t"), ("file", "", "application/octet-stream", b""))
        assert form.files == []
        await form.aclose()

    async def test_a_body_that_is_not_multipart_is_a_bad_request(self) -> None:
        headers = Headers({"content-type": "multipart/form-data"})  # no boundary
        with pytest.raises(InvalidMultipart):
            await read_multipart(headers, _stream(b"whatever"), AttachmentSettings(_env_file=None))

    async def test_a_body_cut_off_before_its_closing_boundary_is_refused(self) -> None:
        body = _body(("file", "app.log", "text/plain", b"the whole log"))
        headers = Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
        with pytest.raises(InvalidMultipart, match="multipart"):
            await read_multipart(headers, _stream(body[:-30]), AttachmentSettings(_env_file=None))

"""Files of a multipart body, checked before anything is written: each file's size while the body streams in
(the request stops at the first byte over the limit), its media type against its first bytes, its name made
safe to store and to send back. No database here: a request with a bad file is refused whole."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from loopdesk.core.errors import BadRequest, LoopdeskError
from loopdesk.core.settings import AttachmentSettings

MAX_FORM_FIELDS = 50
MAX_FIELD_BYTES = 128 * 1024  # the longest description (20,000 characters) fits, in UTF-8
HEAD_BYTES = 1024  # where PDF readers look for the `%PDF-` marker
FALLBACK_NAME = "attachment"

# The formats a browser would render or a tool would unpack: a name or a declared type is not enough.
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda head: head.startswith((b"GIF87a", b"GIF89a")),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "application/zip": lambda head: head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")),
    "application/gzip": lambda head: head.startswith(b"\x1f\x8b"),
    "application/pdf": lambda head: b"%PDF-" in head,
}
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Other names clients give the same formats (Windows browsers label zip files x-zip-compressed).
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-gzip": "application/gzip",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "application/jsonl": "application/x-ndjson",
    "application/x-jsonlines": "application/x-ndjson",
    "text/x-log": "text/plain",
    "application/csv": "text/csv",
}
UNDECLARED = frozenset({"", "application/octet-stream"})
TEXT_BY_EXTENSION = {".json": "application/json", ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson",
                     ".csv": "text/csv"}  # fmt: skip


class AttachmentTooLarge(LoopdeskError):
    status_code, code, message = 413, "attachment_too_large", "An attachment is larger than allowed"


class AttachmentTypeNotAllowed(LoopdeskError):
    status_code, code, message = 415, "attachment_type_not_allowed", "An attachment's type is not allowed"


class AttachmentEmpty(LoopdeskError):
    status_code, code, message = 422, "attachment_empty", "An attachment is empty"


class TooManyAttachments(LoopdeskError):
    status_code, code, message = 409, "too_many_attachments", "A task may not hold that many attachments"


class InvalidMultipart(BadRequest):
    code, message = "invalid_multipart", "The multipart body cannot be read"


def is_text_type(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type in ("application/json", "application/x-ndjson")


def safe_filename(raw: str) -> str:
    """The last path segment, without control or invisible formatting characters (a right-to-left override
    can disguise `gnp.exe` as `exe.png`), at most 255 characters with its extension kept."""
    name = re.split(r"[\\/]", unicodedata.normalize("NFC", raw))[-1]
    name = "".join(" " if unicodedata.category(ch) in ("Zl", "Zp") else ch for ch in name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = " ".join(name.split()).strip(". ")  # no hidden files, no `..`
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        keep = f".{extension}" if dot and stem and len(extension) <= 16 else ""
        name = name[: 255 - len(keep)].rstrip(". ") + keep
    return name or FALLBACK_NAME


@dataclass(slots=True)
class _Progress:
    """What is learnt of a file part as its bytes go by: the whole file is never held to check it."""

    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    head: bytes = b""
    text: bool = True  # UTF-8 without NUL so far
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.text:
            try:
                self.decoder.decode(chunk)
            except UnicodeDecodeError:
                self.text = False
            self.text = self.text and b"\x00" not in chunk

    def finish(self) -> None:
        if self.text:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.text = False


@dataclass(slots=True)
class Upload:
    """One checked file, spooled (in memory up to 1 MiB, then on disk) until it is stored."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str
    file: UploadFile

    async def read(self) -> bytes:
        await self.file.seek(0)
        return await self.file.read()


@dataclass(slots=True)
class MultipartForm:
    fields: list[tuple[str, str]]
    files: list[Upload]
    _spooled: list[UploadFile]

    async def aclose(self) -> None:
        for file in self._spooled:
            await file.close()


class _CheckingParser(MultiPartParser):
    """Starlette's parser, refusing a file part as soon as it grows past the limit and counting file parts.
    (Starlette spools file parts itself; the part being read is its `_current_part`.)"""

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], settings: AttachmentSettings):
        super().__init__(
            headers, stream, max_files=float("inf"), max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
        )
        self.settings = settings
        self.parts: list[tuple[str, UploadFile, _Progress]] = []  # field name, file, what was seen
        self._progress: _Progress | None = None
        self.complete = False  # the closing boundary was read: a cut-off body is not taken for a whole one

    def on_end(self) -> None:
        self.complete = True

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        file = self._current_part.file
        self._progress = None
        if file is not None:
            if len(self.parts) >= self.settings.attachment_max_files:
                raise TooManyAttachments(detail={"max_files": self.settings.attachment_max_files})
            self._progress = _Progress()
            self.parts.append((self._current_part.field_name, file, self._progress))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._progress is not None:
            self._progress.feed(data[start:end])
            if self._progress.size > self.settings.attachment_max_bytes:
                name = safe_filename(self._current_part.file.filename or "") if self._current_part.file else None
                raise AttachmentTooLarge(detail={"filename": name, "max_bytes": self.settings.attachment_max_bytes})
        super().on_part_data(data, start, end)


async def read_multipart(
    headers: Headers, stream: AsyncGenerator[bytes, None], settings: AttachmentSettings
) -> MultipartForm:
    """The form's text fields and its checked files; close it (`aclose`) when done."""
    parser = _CheckingParser(headers, stream, settings)
    try:
        form = await parser.parse()  # on any error the parser closes what it spooled
    except MultiPartException as exc:
        raise InvalidMultipart(detail={"reason": str(exc)}) from None
    spooled = [file for _, file, _ in parser.parts]
    try:
        if not parser.complete:
            raise InvalidMultipart(detail={"reason": "The body ends before its closing boundary."})
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        files = []
        for name, file, progress in parser.parts:
            if not file.filename and progress.size == 0:
                continue  # a form's file input left empty
            files.append(_checked(name, file, progress, settings))
    except BaseException:
        for file in spooled:
            await file.close()
        raise
    return MultipartForm(fields=fields, files=files, _spooled=spooled)


def _checked(field_name: str, file: UploadFile, progress: _Progress, settings: AttachmentSettings) -> Upload:
    progress.finish()
    filename = safe_filename(file.filename or "")
    if progress.size == 0:
        raise AttachmentEmpty(detail={"filename": filename})
    declared = (file.content_type or "").split(";", 1)[0].strip().lower()
    declared = ALIASES.get(declared, declared)
    content_type = _sniffed(filename, progress) if declared in UNDECLARED else declared
    allowed = settings.attachment_content_types
    refused = {"filename": filename, "content_type": content_type or declared or None, "allowed": allowed}
    if content_type is None or content_type not in allowed:
        raise AttachmentTypeNotAllowed(detail=refused)
    matches = SIGNATURES.get(content_type)
    if matches is not None and not matches(progress.head):
        raise AttachmentTypeNotAllowed(
            f"The attachment's content is not {content_type}", detail={**refused, "reason": "content_mismatch"}
        )
    if is_text_type(content_type) and not progress.text:
        raise AttachmentTypeNotAllowed(
            f"The attachment is not UTF-8 text ({content_type})", detail={**refused, "reason": "not_text"}
        )
    return Upload(
        field=field_name,
        filename=filename,
        content_type=content_type,
        size=progress.size,
        sha256=progress.digest.hexdigest(),
        file=file,
    )


def _sniffed(filename: str, progress: _Progress) -> str | None:
    """The type of a file sent without one (or as octet-stream): its magic bytes, else text by extension."""
    for media_type, matches in SIGNATURES.items():
        if matches(progress.head):
            return media_type
    if progress.text:
        extension = filename[filename.rfind(".") :].lower() if "." in filename else ""
        return TEXT_BY_EXTENSION.get(extension, "text/plain")
    return None

"""Files a customer sends in the chat (screenshots, logs): uploaded to their session first, then named by id in
a message (`execute` or the WebSocket's `message` frame). The only code that writes `session_attachments`;
the upload's checks (size while streaming, type sniffing, safe names) are feedback/uploads.py's.

Who may: the session's owner uploads and sends; the owner and staff read. A message lists its files twice:
a text block per file, which any model reads, and `additional_kwargs["attachments"]` (id, name, type, size),
which the session history and the replay show as links. Services flush; the request owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Forbidden, NotFound
from loopdesk.core.settings import AttachmentSettings
from loopdesk.feedback.uploads import TooManyAttachments, Upload
from loopdesk.sessions.attachment_repository import SessionAttachmentRepository
from loopdesk.sessions.schemas import MessageAttachment
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.sessions.attachments")

KWARG = "attachments"  # the key in a human message's `additional_kwargs`
_LINE_START = "[attached: "


class AttachmentNotFound(NotFound):
    code, message = "attachment_not_found", "Attachment not found"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / (1024 * 1024):.1f} MB"


def attachment_line(file: MessageAttachment) -> str:
    """What a model reads of a file sent with a message."""
    return f"{_LINE_START}{file.filename} ({file.content_type}, {_size(file.size)})]"


def human_message(text: str, files: Sequence[MessageAttachment], *, message_id: str | None = None) -> dict[str, Any]:
    """A user's chat message as run input: its text, then a text block per file (newline-led, so the message's
    plain text reads as one line per file), the files' facts in `additional_kwargs`."""
    message: dict[str, Any] = {"type": "human", "content": text}
    if message_id is not None:
        message["id"] = message_id
    if files:
        blocks = [{"type": "text", "text": text}, *({"type": "text", "text": "\n" + attachment_line(f)} for f in files)]
        message["content"] = blocks
        message["additional_kwargs"] = {KWARG: [f.model_dump(mode="json") for f in files]}
    return message


def message_files(additional_kwargs: Any) -> list[MessageAttachment]:
    """The files a message was sent with (none for a message without, or with an unreadable list)."""
    listed = additional_kwargs.get(KWARG) if isinstance(additional_kwargs, Mapping) else None
    files = []
    for item in listed if isinstance(listed, list) else []:
        try:
            files.append(MessageAttachment.model_validate(item))
        except ValueError:
            continue
    return files


def without_file_blocks(content: Any, files: Sequence[MessageAttachment]) -> Any:
    """A message's content without the text blocks that list its files (shown as attachments instead)."""
    if not files or not isinstance(content, list):
        return content
    lines = {"\n" + attachment_line(f) for f in files}
    return [b for b in content if not (isinstance(b, dict) and b.get("type") == "text" and b.get("text") in lines)]


def _listed_in(text: str, rows: Iterable[Row[Any]], at: datetime) -> list[dict[str, Any]]:
    wanted = set(text.splitlines())
    found: dict[str, dict[str, Any]] = {}
    for row in rows:  # oldest first: a later upload with the same line wins
        file = MessageAttachment.model_validate(row, from_attributes=True)
        line = attachment_line(file)
        if line in wanted and row.created_at <= at:
            found[line] = file.model_dump(mode="json")
    return list(found.values())


async def files_listed(
    db: AsyncSession, thread_id: uuid.UUID, messages: Sequence[tuple[str, datetime]]
) -> list[list[dict[str, Any]]]:
    """For user messages kept as plain text (`text`, when) — a support conversation's events — the session's
    files each one lists (by its `[attached: …]` lines, uploaded by then), as `additional_kwargs` holds them."""
    if not any(_LINE_START in text for text, _ in messages):
        return [[] for _ in messages]
    rows = await SessionAttachmentRepository(db).list(thread_id)
    return [_listed_in(text, rows, at) for text, at in messages]


class SessionAttachmentService:
    def __init__(self, session: AsyncSession, *, settings: AttachmentSettings):
        self.repository = SessionAttachmentRepository(session)
        self.settings = settings

    @staticmethod
    def check_owner(caller: User, session_id: uuid.UUID, owner_id: uuid.UUID) -> None:
        """Files are added and sent by the session's owner only (staff read them)."""
        if owner_id != caller.id:
            raise Forbidden("Only the session's owner can add files to it", detail={"session_id": str(session_id)})

    async def upload(self, caller: User, session_id: uuid.UUID, uploads: Sequence[Upload]) -> list[Row[Any]]:
        """Store checked files on the session for its owner (checked by the caller); all of them or none."""
        await self.repository.lock_thread(session_id)
        existing = await self.repository.count(session_id)
        limit = self.settings.attachment_max_files
        if existing + len(uploads) > limit:
            raise TooManyAttachments(
                f"A session may hold at most {limit} attachments",
                detail={"max_files": limit, "existing": existing, "adding": len(uploads)},
            )
        stored = []
        now = datetime.now(UTC)
        for index, upload in enumerate(uploads):
            values = {
                "id": uuid.uuid4(),
                "thread_id": session_id,
                "uploaded_by": caller.id,
                "filename": upload.filename,
                "content_type": upload.content_type,
                "size": upload.size,
                "sha256": upload.sha256,
                "data": await upload.read(),
                "created_at": now + timedelta(microseconds=index),  # listed in the order given
            }
            stored.append(await self.repository.add(values))
        log.info("sessions.attachments.added", session_id=str(session_id), count=len(stored))
        return stored

    async def list(self, session_id: uuid.UUID) -> list[Row[Any]]:
        """The session's files, oldest first (the caller has been checked to read the session)."""
        return await self.repository.list(session_id)

    async def get(self, session_id: uuid.UUID, attachment_id: uuid.UUID) -> Row[Any]:
        """The file with its bytes (`data`)."""
        row = await self.repository.get_with_data(session_id, attachment_id)
        if row is None:
            raise AttachmentNotFound(detail={"attachment_id": str(attachment_id)})
        return row

    async def for_message(
        self, caller: User, session_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> list[MessageAttachment]:
        """The files a message names, in its order: each must be on this session and the caller's own."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        rows = {row.id: row for row in await self.repository.list_by_ids(session_id, wanted, uploaded_by=caller.id)}
        missing = [str(i) for i in wanted if i not in rows]
        if missing:
            raise AttachmentNotFound(
                "No attachment with this id on the session (upload files to the session first)",
                detail={"attachment_ids": missing, "session_id": str(session_id)},
            )
        return [MessageAttachment.model_validate(rows[i], from_attributes=True) for i in wanted]

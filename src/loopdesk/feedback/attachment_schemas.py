"""Response shapes of task attachments."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from loopdesk.core.schemas import Schema
from loopdesk.feedback.schemas import IntakeRead


class AttachmentRead(Schema):
    id: uuid.UUID
    filename: str = Field(..., description="as uploaded, without path or control characters")
    content_type: str = Field(..., description="checked against the file's first bytes where the format has them")
    size: int = Field(..., description="bytes")
    sha256: str = Field(..., description="hex digest of the bytes")
    uploaded_by: uuid.UUID
    created_at: datetime


class IntakeWithAttachmentsRead(IntakeRead):
    attachments: list[AttachmentRead] = Field(
        default_factory=list, description="the files sent with a multipart report, stored on `task`"
    )

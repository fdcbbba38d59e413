"""Request and response shapes of the support hand-over and of unlinking a joined reporter."""

from __future__ import annotations

import uuid

from pydantic import Field, model_validator

from loopdesk.core.schemas import Schema
from loopdesk.feedback.attachment_schemas import AttachmentRead
from loopdesk.feedback.schemas import Description, IntakeRead, IssueType, Notes, TaskRead, Title


class HandoverIn(Schema):
    thread_id: uuid.UUID | None = Field(None, description="the support conversation's thread (or give session_id)")
    session_id: uuid.UUID | None = Field(None, description="the support session (the same id as its thread)")
    customer_id: uuid.UUID = Field(..., description="the customer: the task's reporter, who then sees it as theirs")
    title: Title
    description: Description | None = Field(None, description="default: a summary of the conversation")
    issue_type: IssueType | None = Field(None, description="a hint that overrides the classifier's issue type")

    @model_validator(mode="after")
    def _one_conversation(self) -> HandoverIn:
        if (self.thread_id is None) == (self.session_id is None):
            raise ValueError("give one of `thread_id` and `session_id`")
        return self

    @property
    def conversation_id(self) -> uuid.UUID:
        return self.thread_id or self.session_id  # type: ignore[return-value]


class HandoverRead(IntakeRead):
    transcript: AttachmentRead = Field(..., description="the conversation, stored on `task` as transcript.json")


class UnlinkReporterIn(Schema):
    reason: Notes | None = None


class UnlinkReporterRead(Schema):
    task: TaskRead = Field(..., description="the task the reporter left (reporter_count fell)")
    own_task: TaskRead = Field(..., description="the reporter's own task, opened from the report they sent")

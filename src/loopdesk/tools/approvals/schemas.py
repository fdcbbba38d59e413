from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from loopdesk.core.schemas import MAX_OFFSET, Schema

ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "expired"]
Message = Annotated[str, Field(max_length=2000)]


class ApproveIn(Schema):
    message: Message | None = None


class RejectIn(Schema):
    message: Message | None = Field(None, description="why: the model reads it and tells the user")


class EditIn(Schema):
    args: dict[str, Any] = Field(..., description="the arguments to execute with instead (checked against the tool)")
    message: Message | None = None


DecisionType = Literal["approve", "reject", "edit"]
_STATUS_OF: dict[str, str] = {"approve": "approved", "reject": "rejected", "edit": "edited"}
_TYPE_OF: dict[str, str] = {**{status: kind for kind, status in _STATUS_OF.items()}, "expired": "expired"}


class Decision(Schema):
    """The one decision shape shared by REST, the WebSocket, raw Agent Protocol resumes and the console: approve /
    reject / edit. `status` is what an approval records; `to_resume` / `from_resume` are what a waiting step gets
    back and how a resume value reads as a decision (the only place either mapping lives)."""

    type: DecisionType
    message: Message | None = None
    args: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return _STATUS_OF[self.type]

    def to_resume(self, pending: Any = None) -> Any:
        """What the graph gets back: LangChain's HITL `{"decisions": [...]}` when the pending interrupt is a HITL
        request (one decision per action request), else `{"type", "message"?, "args"?}`."""
        requests = pending.get("action_requests") if isinstance(pending, dict) else None
        if isinstance(requests, list) and requests:
            decisions = []
            for request in requests:
                if self.type == "edit":
                    name = request.get("name") if isinstance(request, dict) else None
                    decisions.append({"type": "edit", "edited_action": {"name": name, "args": self.args or {}}})
                elif self.type == "reject":
                    decisions.append(
                        {"type": "reject", "message": self.message} if self.message else {"type": "reject"}
                    )
                else:
                    decisions.append({"type": "approve"})
            return {"decisions": decisions}
        value: dict[str, Any] = {"type": self.type}
        if self.message is not None:
            value["message"] = self.message
        if self.args is not None:
            value["args"] = self.args
        return value

    @staticmethod
    def from_resume(value: Any) -> tuple[str | None, str | None, dict[str, Any] | None]:
        """A resume value as (status, message, args): status approved / rejected / edited, `expired` (the expiry
        sweep's resume), or None when the value is no decision. Understands loopdesk's shape, LangChain's HITL
        `{"decisions": [...]}` and a bare boolean."""
        if isinstance(value, dict) and isinstance(value.get("decisions"), list) and value["decisions"]:
            first = value["decisions"][0] if isinstance(value["decisions"][0], dict) else {}
            edited = first.get("edited_action") or {}
            value = {"type": first.get("type"), "message": first.get("message"), "args": edited.get("args")}
        if isinstance(value, bool):
            value = {"type": "approve" if value else "reject"}
        if not isinstance(value, dict):
            return None, None, None
        kind = str(value.get("type"))
        status = "expired" if kind == "expired" else _STATUS_OF.get(kind)
        args = value.get("args") if isinstance(value.get("args"), dict) else None
        message = value.get("message")
        return status, (str(message)[:2000] if message is not None else None), args

    @staticmethod
    def recorded(status: str, *, approval_id: str, message: str | None, args: dict[str, Any] | None) -> dict[str, Any]:
        """The resume value of a decision as an approval recorded it (`status` approved / rejected / edited /
        expired), naming the approval."""
        value: dict[str, Any] = {"type": _TYPE_OF[status], "approval_id": approval_id}
        if message:
            value["message"] = message
        if args is not None:
            value["args"] = args
        return value


class ApprovalRead(Schema):
    id: uuid.UUID
    thread_id: uuid.UUID
    run_id: uuid.UUID | None
    assistant_id: uuid.UUID | None
    requester_id: uuid.UUID | None
    tool_call_id: str
    tool_name: str
    side_effect: str
    description: str | None
    args: dict[str, Any]
    edited_args: dict[str, Any] | None
    status: ApprovalStatus
    decision_message: str | None
    decided_by: uuid.UUID | None
    decided_via: str | None
    decided_at: datetime | None
    created_at: datetime
    expires_at: datetime


class ApprovalQuery(Schema):
    status: ApprovalStatus | None = Field("pending", description="pending by default")
    thread_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

"""The WebSocket protocol: every frame a client may send and every frame the server sends, as
Pydantic models. `protocol.schema.json` (next to this file, served at /api/v1/realtime/schema) is
generated from them (`python -m loopdesk.realtime.protocol > .../protocol.schema.json`); a test keeps
the two in step and validates every frame the tests receive against it.

Event ids: frames that come from a run's durable event log carry `<run_id>:<seq>:<n>` ids, which
`resume` accepts; frames about the connection itself (`ack`, `pong`, `error`) carry `~<n>` ids that
only order them within the connection."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from loopdesk.sessions.schemas import MAX_MESSAGE_ATTACHMENTS
from loopdesk.tools.approvals.schemas import Decision as ApprovalDecision

# -- client → server ------------------------------------------------------------------------------


class _Client(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, max_length=100, description="echoed as `ref` in the ack / error it causes")


class MessageIn(_Client):
    """Send a user message: creates a run of the thread's assistant (queued behind a running one).
    Without `thread_id` a new thread is created (its id comes back in the `ack`)."""

    type: Literal["message"]
    thread_id: uuid.UUID | None = None
    content: str = Field(..., min_length=1)
    assistant_id: str | None = Field(None, min_length=1, max_length=200)
    attachments: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_MESSAGE_ATTACHMENTS,
        description="ids of files uploaded to the session `thread_id` (POST /api/v1/sessions/{id}/attachments)",
    )

    @model_validator(mode="after")
    def _attachments_need_a_session(self) -> MessageIn:
        if self.attachments and self.thread_id is None:
            raise ValueError("`attachments` need the `thread_id` of the session they were uploaded to")
        return self


Decision = Literal["approve", "reject", "edit"]


class DecisionIn(BaseModel):
    type: Decision
    message: str | None = Field(None, max_length=10_000)
    args: dict[str, Any] | None = None


class InterruptResponseIn(_Client):
    """Answer an interrupt (a tool approval, a question): approve, reject (with a message) or edit the
    arguments. The seeds' `approved: true|false` is shorthand for approve / reject."""

    type: Literal["interrupt_response"]
    thread_id: uuid.UUID
    interrupt_id: str | None = Field(None, max_length=200)
    decision: Decision | DecisionIn | None = None
    message: str | None = Field(None, max_length=10_000)
    args: dict[str, Any] | None = None
    approved: bool | None = None

    @model_validator(mode="after")
    def _one_decision(self) -> InterruptResponseIn:
        if self.decision is None and self.approved is None:
            raise ValueError("give `decision` (approve, reject or edit) or `approved`")
        decision = self.resolved()
        if decision.type == "edit" and decision.args is None:
            raise ValueError("an `edit` decision needs `args`")
        return self

    def resolved(self) -> ApprovalDecision:
        """The decision, whichever spelling the client used (the frame's own limits already checked it)."""
        if isinstance(self.decision, DecisionIn):
            kind, message, args = (
                self.decision.type,
                self.decision.message or self.message,
                self.decision.args or self.args,
            )
        elif self.decision is not None:
            kind, message, args = self.decision, self.message, self.args
        else:
            kind, message, args = ("approve" if self.approved else "reject"), self.message, self.args
        return ApprovalDecision.model_construct(type=kind, message=message, args=args)


class SubscribeIn(_Client):
    """Follow a thread's events (from now on) or a feedback task's updates; `unsubscribe` stops."""

    type: Literal["subscribe", "unsubscribe"]
    thread_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SubscribeIn:
        if (self.thread_id is None) == (self.task_id is None):
            raise ValueError("give exactly one of `thread_id` and `task_id`")
        return self


class SubscribeTaskIn(_Client):
    """The seeds' shorthand for `subscribe` {task_id}."""

    type: Literal["subscribe_task"]
    task_id: uuid.UUID


class SubmitFeedbackIn(_Client):
    """Report a problem or a suggestion (as `POST /api/v1/feedback` with a JSON body): answered by an `ack` with
    the task's id and number (`linked`: joined to an open duplicate); the socket then follows the task."""

    type: Literal["submit_feedback"]
    title: str = Field(..., min_length=1, max_length=500)
    description: str = Field(..., min_length=1, max_length=20_000)
    source_channel: Literal["web", "app", "api"] | None = None
    affected_modules: list[str] = Field(default_factory=list, max_length=20)
    phone: str | None = Field(None, max_length=64)
    registered_region: str | None = Field(None, max_length=64)


class ResumeIn(_Client):
    """After a reconnect: every event of the thread after `last_event_id`, exactly once, then live."""

    type: Literal["resume"]
    thread_id: uuid.UUID
    last_event_id: str = Field(..., min_length=1, max_length=200)


class PingIn(_Client):
    type: Literal["ping"]


ClientFrame = Annotated[
    MessageIn | InterruptResponseIn | SubscribeIn | SubscribeTaskIn | SubmitFeedbackIn | ResumeIn | PingIn,
    Field(discriminator="type"),
]
CLIENT_TYPES = (
    "message", "interrupt_response", "subscribe", "unsubscribe", "subscribe_task", "submit_feedback", "resume", "ping",
)  # fmt: skip
client_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)

# -- server → client ------------------------------------------------------------------------------


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(..., description="`<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise")


class _ThreadEvent(_Server):
    thread_id: str
    run_id: str


class UserMessageOut(_ThreadEvent):
    """A user's message on the thread (from any device), at the start of the run it created."""

    type: Literal["user_message"]
    content: str
    user_id: str | None


class TokenOut(_ThreadEvent):
    type: Literal["token"]
    agent: str | None
    content: str


class ToolCallOut(_ThreadEvent):
    type: Literal["tool_call"]
    agent: str | None
    tool: str
    args: dict[str, Any]
    id: str | None


class ToolResultOut(_ThreadEvent):
    type: Literal["tool_result"]
    agent: str | None
    tool: str | None
    result: Any
    id: str | None


class InterruptOut(_ThreadEvent):
    """The run paused for a decision: answer with `interrupt_response`."""

    type: Literal["interrupt"]
    interrupt_id: str | None
    action: str
    params: Any
    description: str | None = None
    expires_at: str | None


class ClarificationOut(_ThreadEvent):
    """The agent needs more information: answer with a `message`."""

    type: Literal["clarification"]
    interrupt_id: str | None = None  # none when the support supervisor asks (no interrupt: the next message answers)
    message: str


class HandoffOut(_ThreadEvent):
    """The support supervisor handed the request to an agent."""

    type: Literal["handoff"]
    agent: str
    intent: str | None = None


class InterruptExpiredOut(_ThreadEvent):
    """Nobody decided in time: the tool call was cancelled and the run went on without it."""

    type: Literal["interrupt_expired"]
    action: str
    message: str
    approval_id: str | None = None


class CustomOut(_ThreadEvent):
    """What a graph wrote with its stream writer (progress and the like)."""

    type: Literal["custom"]
    data: Any


class MessageCompleteOut(_ThreadEvent):
    """The run is over; `status` success, interrupted (waiting for a decision), error or timeout."""

    type: Literal["message_complete"]
    status: str


class TaskUpdateOut(_Server):
    """A feedback task changed: an entry of its timeline (`subscribe` {task_id}), or a notification to the
    reporter, assignee or team lead (`kind` e.g. `stage:plan_review`, `assigned`, `sla_warning`)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["task_update"]
    task_id: str
    task_number: str | None = None
    stage: str | None = Field(None, description="the task's stage now")
    kind: str | None = Field(None, description="stage, assignee, team, plan, progress, csat, ... or a notification")
    from_value: str | None = None
    to_value: str | None = None
    reason: str | None = None
    actor_id: str | None = Field(None, description="who did it (staff see it; null: the system)")
    at: str | None = None
    thread_id: str | None = None


class AckOut(_Server):
    """A client frame was accepted (`of`: its type; `ref`: its `id`)."""

    type: Literal["ack"]
    of: str
    ref: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    task_number: str | None = None
    linked: bool | None = Field(None, description="submit_feedback: joined to an open duplicate task")


class ErrorOut(_Server):
    type: Literal["error"]
    code: str
    message: str
    detail: Any = None
    ref: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    retry_after: int | None = None


class PongOut(_Server):
    type: Literal["pong"]
    ref: str | None = None


class SupportUpdateOut(_Server):
    """To staff: a support conversation was handed to people (`conversation.escalated`), or its customer wrote
    while a person has it (`conversation.message`)."""

    type: Literal["support_update"]
    kind: str
    thread_id: str | None
    escalation_id: str | None = None
    reason: str | None = None
    text: str | None = None
    at: str | None


ServerFrame = Annotated[
    UserMessageOut
    | TokenOut
    | ToolCallOut
    | ToolResultOut
    | InterruptOut
    | ClarificationOut
    | HandoffOut
    | InterruptExpiredOut
    | CustomOut
    | MessageCompleteOut
    | TaskUpdateOut
    | SupportUpdateOut
    | AckOut
    | ErrorOut
    | PongOut,
    Field(discriminator="type"),
]


def schema_document() -> dict[str, Any]:
    """One JSON Schema (2020-12) with `ClientFrame` and `ServerFrame` definitions."""
    client = TypeAdapter(ClientFrame).json_schema(ref_template="#/$defs/{model}")
    server = TypeAdapter(ServerFrame).json_schema(ref_template="#/$defs/{model}")
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    defs["ClientFrame"] = client
    defs["ServerFrame"] = server
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://loopdesk.dev/schemas/realtime-protocol.json",
        "title": "loopdesk WebSocket protocol",
        "description": (__doc__ or "").strip(),
        "$defs": dict(sorted(defs.items())),
        "oneOf": [{"$ref": "#/$defs/ClientFrame"}, {"$ref": "#/$defs/ServerFrame"}],
    }


def schema_text() -> str:
    return json.dumps(schema_document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")

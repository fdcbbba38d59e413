"""Request and response shapes of notification channels (one configuration shape per kind) and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from loopdesk.core.schemas import MAX_OFFSET, Email, Schema
from loopdesk.feedback.schemas import RegionName

ChannelKind = Literal["email", "dingtalk", "slack", "webhook"]
DeliveryKind = Literal["websocket", "email", "dingtalk", "slack", "webhook"]
DeliveryStatus = Literal["pending", "sent", "failed"]
MAX_CHANNELS = 100

ChannelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

_MASKED = "returned masked (`********`); send the masked value back to keep the stored one"


class DingTalkConfig(Schema):
    url: Url = Field(..., description="the robot's webhook URL (its access_token is " + _MASKED + ")")
    secret: Secret | None = Field(None, description="the robot's signing secret (SEC…), " + _MASKED)


class SlackConfig(Schema):
    url: Url = Field(..., description="the incoming webhook URL (its token, the last path segment, is " + _MASKED + ")")


class WebhookConfig(Schema):
    url: Url = Field(..., description="the endpoint (query values and a password in it are " + _MASKED + ")")
    secret: Secret | None = Field(
        None, description="signs each body: `X-Loopdesk-Signature: sha256=<hex HMAC-SHA256>`; " + _MASKED
    )


class EmailConfig(Schema):
    recipients: list[Email] = Field(..., min_length=1, max_length=50, description="addresses every message goes to")


class _ChannelWrite(Schema):
    id: uuid.UUID | None = Field(
        None, description="a stored channel's id: it is kept (and its masked secrets); unset: matched by name"
    )
    name: ChannelName
    region: RegionName | None = Field(None, description="tasks of this region only; null: both")
    team_id: uuid.UUID | None = Field(None, description="tasks of this team only; null: every team")
    events: list[EventName] = Field(
        default_factory=list,
        max_length=50,
        description="events it takes (stage:plan_review, assigned, progress, sla_warning, sla_escalated; "
        "`stage:*` for every stage change); empty: all",
    )
    enabled: bool = True


class DingTalkChannelWrite(_ChannelWrite):
    kind: Literal["dingtalk"]
    config: DingTalkConfig


class SlackChannelWrite(_ChannelWrite):
    kind: Literal["slack"]
    config: SlackConfig


class WebhookChannelWrite(_ChannelWrite):
    kind: Literal["webhook"]
    config: WebhookConfig


class EmailChannelWrite(_ChannelWrite):
    kind: Literal["email"]
    config: EmailConfig


ChannelWrite = Annotated[
    DingTalkChannelWrite | SlackChannelWrite | WebhookChannelWrite | EmailChannelWrite, Field(discriminator="kind")
]


class ChannelRead(Schema):
    id: uuid.UUID
    name: str
    kind: ChannelKind
    region: RegionName | None
    team_id: uuid.UUID | None
    events: list[str]
    enabled: bool
    config: dict[str, Any] = Field(..., description="secrets and URL tokens masked")
    created_at: datetime
    updated_at: datetime


class DeliveryQuery(Schema):
    task_id: uuid.UUID | None = None
    status: DeliveryStatus | None = None
    kind: DeliveryKind | None = None
    event: EventName | None = Field(None, description="e.g. stage:plan_review, sla_warning")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class DeliveryRead(Schema):
    id: int
    task_id: uuid.UUID | None
    event_id: int | None = Field(..., description="the timeline entry that caused it")
    event: str
    channel_id: uuid.UUID | None
    kind: DeliveryKind
    recipient: str = Field(..., description="an e-mail address, a user id (websocket) or the channel's name")
    user_id: uuid.UUID | None
    language: str
    subject: str
    body: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None

"""`notify`: the outbox rows of one cause (a stage change, an assignment, an SLA warning), written in the
transaction that changed the task, with a job to send them queued in the same transaction.

Who and how: every person named gets a `websocket` row (sent at once: the frame itself reaches them from the
task's timeline) and an e-mail when the stage's channels include e-mail; each enabled channel for the task's
region, team and event gets one row when its kind is among the stage's channels (webhooks: always). The
stage's channels are the seed's (triage/sla.py DEFAULT_STAGES), "chat" being DingTalk for domestic tasks and
Slack for international ones; messages are in Chinese for domestic tasks, in English otherwise."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic_core import to_jsonable_python
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.metrics import NOTIFICATION_DELIVERIES
from loopdesk.feedback.models import Task
from loopdesk.notifications.models import NotificationChannel, NotificationDelivery
from loopdesk.notifications.repository import ChannelRepository, DeliveryRepository
from loopdesk.notifications.templates import Language, render
from loopdesk.runtime.queue import defer
from loopdesk.runtime.runs.events import CHANNEL, user_key
from loopdesk.triage.sla import DEFAULT_STAGES
from loopdesk.users.models import SYSTEM_USER_ID, User
from loopdesk.users.repository import UserRepository

log = structlog.get_logger("loopdesk.notifications")

SEND_TASK = "loopdesk.send_notifications"
# Stages the seed gives no channels, and events that are not a stage's own (assignment, progress): people
# hear of them on the WebSocket and by e-mail; an SLA warning or escalation also goes to the team chat.
_DEFAULT_CHANNELS = ("websocket", "email")
_SLA_CHANNELS = ("websocket", "email", "chat")
_MAX_DEDUP_KEY = 300


def stage_kinds(event: str, stage: str, region: str | None) -> frozenset[str]:
    """The delivery kinds a cause uses: the stage's channels with "chat" made the region's chat."""
    if event.startswith("sla"):
        channels: tuple[str, ...] = _SLA_CHANNELS
    else:
        spec = DEFAULT_STAGES.get(stage)
        channels = spec.channels if spec is not None and spec.channels else _DEFAULT_CHANNELS
    chat = "dingtalk" if region == "domestic" else "slack"
    return frozenset(chat if channel == "chat" else channel for channel in channels)


def language_of(region: str | None) -> Language:
    return "zh" if region == "domestic" else "en"


def wants(channel: NotificationChannel, event: str, kinds: frozenset[str]) -> bool:
    """Does the channel take this event? `events` empty: all; an entry ending in `*` is a prefix (`stage:*`)."""
    if channel.kind != "webhook" and channel.kind not in kinds:
        return False
    if not channel.events:
        return True
    return any(event == entry or (entry.endswith("*") and event.startswith(entry[:-1])) for entry in channel.events)


def dedup_key(cause: str, kind: str, recipient: str) -> str:
    key = f"{cause}:{kind}:{recipient}"
    if len(key) <= _MAX_DEDUP_KEY:
        return key
    return f"{cause[:200]}:{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _email_configured() -> bool:
    """People get e-mail only when an SMTP server is configured (a channel's e-mail list fails visibly
    instead); read from the process's settings, installed at start by `serve` and `worker`."""
    from loopdesk.tools import runtime as tool_runtime

    try:
        return bool(tool_runtime.current().settings.notifications.smtp_host)
    except RuntimeError:  # not started as a server or worker (a script): keep the rows, the sender says why
        return True


async def _people(session: AsyncSession, users: Iterable[uuid.UUID]) -> list[User]:
    """The named accounts that are people and active, each once (the system account is never one)."""
    repository, found = UserRepository(session), []
    for user_id in dict.fromkeys(users):
        if user_id == SYSTEM_USER_ID:
            continue
        user = await repository.get(user_id)
        if user is not None and user.is_active:
            found.append(user)
    return found


async def notify(
    session: AsyncSession,
    task: Task,
    *,
    event: str,
    event_id: int | None,
    users: Iterable[uuid.UUID],
    data: dict[str, Any],
) -> list[int]:
    """Write the cause's deliveries (a retried cause writes none twice) and queue their sending; returns the ids
    of the rows written that wait to be sent. `data["stage"]`: the stage the message speaks of (default: the
    task's); `data["reason"]`: a note shown in the message."""
    stage = str(data.get("stage") or task.workflow_stage)
    kinds = stage_kinds(event, stage, task.region)
    language = language_of(task.region)
    link = f"/tasks/{task.task_number}"
    message = render(
        language,
        event=event,
        task_number=task.task_number,
        title=task.title,
        stage=stage,
        priority=task.priority_level,
        link=link,
        note=data.get("reason"),
    )
    payload = {
        "event": event,
        "task": {
            "id": str(task.id),
            "number": task.task_number,
            "title": task.title,
            "stage": stage,
            "priority": task.priority_level,
            "region": task.region,
            "link": link,
        },
        "data": to_jsonable_python(data, fallback=str),
    }
    # Without a timeline entry the cause is the event on this task (the caller must not repeat it by mistake).
    cause = str(event_id) if event_id is not None else f"{task.task_number}:{event}"
    common = {
        "task_id": task.id,
        "event_id": event_id,
        "event": event[:64],
        "language": language,
        "subject": message.subject,
        "body": message.body,
        "payload": payload,
    }
    channels = await ChannelRepository(session).matching(region=task.region, team_id=task.team_id)
    written, pending = await _deliver(
        session,
        common,
        cause=cause,
        people=await _people(session, users),
        email="email" in kinds and _email_configured(),
        channels=[c for c in channels if wants(c, event, kinds)],
    )
    log.info(
        "notifications.queued", task_id=str(task.id), notify_event=event, written=len(written), pending=len(pending)
    )
    return pending


async def notify_people(
    session: AsyncSession,
    *,
    cause: str,
    event: str,
    users: Iterable[uuid.UUID],
    subject: str,
    body: str,
    payload: dict[str, Any],
    language: Language = "en",
) -> list[int]:
    """A notification that is not about a task (a support conversation handed to people): each person's WebSocket
    (and e-mail when SMTP is configured), and every enabled channel without a region or team that takes `event`.
    Sent (and retried with backoff) by the outbox like the task notifications; `cause` makes a retry write none
    twice."""
    common = {"task_id": None, "event_id": None, "event": event[:64], "language": language, "subject": subject,
              "body": body, "payload": {"event": event, **to_jsonable_python(payload, fallback=str)}}  # fmt: skip
    kinds = frozenset({"webhook", "slack", "dingtalk", "email"})
    channels = await ChannelRepository(session).matching(region=None, team_id=None)
    written, pending = await _deliver(
        session,
        common,
        cause=cause,
        people=await _people(session, users),
        email=_email_configured(),
        channels=[c for c in channels if c.region is None and c.team_id is None and wants(c, event, kinds)],
    )
    log.info("notifications.queued", notify_event=event, written=len(written), pending=len(pending))
    return pending


async def _deliver(
    session: AsyncSession,
    common: dict[str, Any],
    *,
    cause: str,
    people: Sequence[User],
    email: bool,
    channels: Iterable[NotificationChannel],
) -> tuple[list[tuple[int, str]], list[int]]:
    """The deliveries of one cause: each person's WebSocket (and e-mail), each channel; written once per cause
    (a retried cause writes none twice), the people's sockets woken and the pending ones queued for sending.
    Returns (the rows written as (id, status), the ids waiting to be sent)."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []

    def row(kind: str, recipient: str, **values: Any) -> None:
        values = {"channel_id": None, "user_id": None, "status": "pending", "sent_at": None, **values}
        rows.append(
            {**common, **values, "kind": kind, "recipient": recipient, "dedup_key": dedup_key(cause, kind, recipient)}
        )

    for person in people:
        row("websocket", str(person.id), user_id=person.id, status="sent", sent_at=now)
        if email:
            row("email", person.email, user_id=person.id)
    for channel in channels:
        row(channel.kind, channel.name, channel_id=channel.id)
    written = await DeliveryRepository(session).add_many(rows)
    if written:  # the people's open WebSockets (realtime/task_follower.py) read their rows when this commits
        for person in people:
            await session.execute(
                text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": user_key(person.id)}
            )
    pending = [delivery_id for delivery_id, status in written if status == "pending"]
    NOTIFICATION_DELIVERIES.labels("websocket", "sent").inc(len(written) - len(pending))  # sent with the frame
    if pending:
        await defer(session, SEND_TASK, {"delivery_ids": pending})
    return written, pending


async def list_deliveries(
    session: AsyncSession,
    *,
    task_id: uuid.UUID | None,
    status: str | None,
    kind: str | None,
    event: str | None,
    limit: int,
    offset: int,
) -> tuple[list[NotificationDelivery], int]:
    return await DeliveryRepository(session).list(
        task_id=task_id, status=status, kind=kind, event=event, limit=limit, offset=offset
    )

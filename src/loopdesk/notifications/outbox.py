"""Sending the outbox. Each delivery is sent inside its own transaction that holds the row's lock (FOR UPDATE
SKIP LOCKED): two workers never send one row at once, and a worker that dies mid-send rolls back, leaving the
row pending for the sweep to send again. A row is `sent` only once the server accepted it; a failure is
retried with exponential backoff (a job scheduled for `next_attempt_at`, the sweep as the safety net) until
the configured maximum of attempts, then `failed`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.metrics import NOTIFICATION_DELIVERIES
from loopdesk.core.settings import Settings
from loopdesk.notifications.models import NotificationDelivery
from loopdesk.notifications.repository import ChannelRepository, DeliveryRepository
from loopdesk.notifications.senders import SENDERS, DeliveryFailed, SendContext, Sender
from loopdesk.notifications.service import SEND_TASK
from loopdesk.runtime.queue import defer
from loopdesk.tools.net import OutboundPolicy, safe_client

log = structlog.get_logger("loopdesk.notifications.outbox")

MAX_BACKOFF_SECONDS = 3600.0
SWEEP_BATCH = 200  # deliveries one sweep sends at most; the next sweep takes the rest
_MAX_ERROR = 500


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2 × base, 4 × base, ... at most an hour."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def secrets_of(config: Mapping[str, Any]) -> list[str]:
    """What an error message must never repeat: the secret, the URL and its tokens (query values, the path's
    last segment: Slack's token, user info)."""
    found: list[str] = []
    if secret := config.get("secret"):
        found.append(str(secret))
    if url := config.get("url"):
        parts = urlsplit(str(url))
        found.append(str(url))
        found.extend(value for _, value in parse_qsl(parts.query) if value)
        found.extend(segment for segment in parts.path.rsplit("/", 1)[-1:] if segment)
        if parts.password:
            found.append(parts.password)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text[:_MAX_ERROR]


@dataclass
class Outbox:
    database: Database
    settings: Settings
    senders: Mapping[str, Sender] = field(default_factory=lambda: dict(SENDERS))

    async def send(self, delivery_ids: Sequence[int]) -> int:
        """The queued job: these deliveries, those still pending and due (another worker may have sent one).
        Returns how many were attempted."""
        attempted = 0
        async with self._context() as context:
            for delivery_id in delivery_ids:
                attempted += await self._attempt(context, delivery_id=delivery_id, now=None) is not None
        return attempted

    async def sweep(self, *, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
        """The periodic job: due pending deliveries, oldest first; `now` None: the database's clock. Returns how
        many were attempted."""
        attempted = 0
        async with self._context() as context:
            while attempted < limit and await self._attempt(context, now=now) is not None:
                attempted += 1
        if attempted:
            log.info("notifications.swept", attempted=attempted)
        return attempted

    @contextlib.asynccontextmanager
    async def _context(self) -> AsyncIterator[SendContext]:
        policy = OutboundPolicy.from_allowlist(self.settings.outbound.allowlist)
        timeout = self.settings.outbound.outbound_timeout_seconds
        async with safe_client(policy, timeout=timeout, max_response_bytes=64 * 1024) as http:
            yield SendContext(http=http, settings=self.settings.notifications)

    async def _attempt(
        self, context: SendContext, *, now: datetime | None, delivery_id: int | None = None
    ) -> str | None:
        """Send one due delivery in a transaction of its own; its new status, or None when none was due."""
        async with self.database.sessionmaker() as session, session.begin():
            delivery = await DeliveryRepository(session).lock_due(now=now, delivery_id=delivery_id)
            if delivery is None:
                return None
            config: Mapping[str, Any] = {}
            bound = log.bind(delivery_id=delivery.id, kind=delivery.kind, notify_event=delivery.event)
            try:
                config = await self._config(session, delivery)
                sender = self.senders.get(delivery.kind)
                if sender is None:
                    raise DeliveryFailed(f"no sender for {delivery.kind!r}", retry=False)
                await sender.send(delivery, dict(config), context)
            except DeliveryFailed as exc:
                await self._failed(session, delivery, exc, config)
                bound.warning("notifications.failed", status=delivery.status, attempts=delivery.attempts)
            except Exception as exc:  # noqa: BLE001 - a sender's bug must not pin the row at the sweep's head
                bound.exception("notifications.sender_error")
                await self._failed(session, delivery, DeliveryFailed(f"{type(exc).__name__} in the sender"), config)
            else:
                delivery.status, delivery.sent_at = "sent", datetime.now(UTC)
                delivery.attempts += 1
                delivery.last_error = None
                bound.info("notifications.sent", attempts=delivery.attempts)
            outcome = "retry" if delivery.status == "pending" else delivery.status  # pending again: a later attempt
            NOTIFICATION_DELIVERIES.labels(delivery.kind, outcome).inc()
            return delivery.status

    async def _config(self, session: AsyncSession, delivery: NotificationDelivery) -> Mapping[str, Any]:
        """The channel's configuration as it is now (a rotated secret applies to waiting rows); a person's
        e-mail has none."""
        if delivery.channel_id is None:
            if delivery.user_id is None:  # the channel it was written for was deleted since
                raise DeliveryFailed("the channel was removed", retry=False)
            return {}
        channel = await ChannelRepository(session).get(delivery.channel_id)
        if channel is None:
            raise DeliveryFailed("the channel was removed", retry=False)
        if not channel.enabled:
            raise DeliveryFailed("the channel is disabled", retry=False)
        return channel.config

    async def _failed(
        self, session: AsyncSession, delivery: NotificationDelivery, exc: DeliveryFailed, config: Mapping[str, Any]
    ) -> None:
        limits = self.settings.notifications
        delivery.attempts += 1
        delivery.last_error = scrub(exc.reason, secrets_of(config))
        if not exc.retry or delivery.attempts >= limits.notification_max_attempts:
            delivery.status = "failed"
            return
        delivery.next_attempt_at = datetime.now(UTC) + backoff(delivery.attempts, limits.notification_backoff_seconds)
        await defer(session, SEND_TASK, {"delivery_ids": [delivery.id]}, scheduled_at=delivery.next_attempt_at)

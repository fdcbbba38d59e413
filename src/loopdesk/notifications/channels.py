"""The admin's notification channels: read with their secrets masked, replaced as a whole list. A value sent
back masked keeps the stored one, so an admin can edit a channel's events without knowing its secret; a URL
that changes is checked against the outbound policy (no private targets unless allow-listed) when it is given,
and again by the sender's client on every send."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit import service as audit
from loopdesk.core.errors import LoopdeskError
from loopdesk.feedback.teams import TeamRepository
from loopdesk.notifications.models import NotificationChannel
from loopdesk.notifications.repository import ChannelRepository
from loopdesk.notifications.schemas import ChannelRead, ChannelWrite
from loopdesk.tools.net import OutboundPolicy, UnsafeDestination, check_url
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.notifications.channels")

MASK = "********"
SECRET_KEYS = ("secret", "password")
_RESOLVE_TIMEOUT = 10.0  # seconds a URL's host may take to resolve


class InvalidChannel(LoopdeskError):
    status_code, code, message = 422, "invalid_channel", "A notification channel is not valid"


class UnsafeChannelUrl(LoopdeskError):
    status_code, code, message = 422, "unsafe_url", "A channel URL reaches a private or reserved address"


class MaskedValueUnknown(LoopdeskError):
    status_code, code, message = 422, "masked_value_unknown", "A masked value matches no stored channel's"


def mask_url(kind: str, url: str) -> str:
    """The URL with its tokens hidden: query values, a password, and Slack's token (the path's last segment)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        user_info, _, host = netloc.rpartition("@")
        netloc = f"{user_info.partition(':')[0]}:{MASK}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{quote(key, safe='')}={MASK if value else ''}" for key, value in pairs)
    path = parts.path
    if kind == "slack":
        head, _, last = path.rpartition("/")
        path = f"{head}/{MASK}" if last else path
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def masked_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    masked = dict(config)
    for key in SECRET_KEYS:
        if masked.get(key):
            masked[key] = MASK
    if isinstance(masked.get("url"), str):
        masked["url"] = mask_url(kind, masked["url"])
    return masked


def channel_read(channel: NotificationChannel) -> ChannelRead:
    return ChannelRead(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,  # type: ignore[arg-type]
        region=channel.region,  # type: ignore[arg-type]
        team_id=channel.team_id,
        events=channel.events,
        enabled=channel.enabled,
        config=masked_config(channel.kind, channel.config),
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


class ChannelService:
    def __init__(self, session: AsyncSession, policy: OutboundPolicy):
        self.session = session
        self.policy = policy
        self.repository = ChannelRepository(session)

    async def list(self) -> list[NotificationChannel]:
        return await self.repository.list()

    async def replace(self, actor: User, channels: Sequence[ChannelWrite]) -> list[NotificationChannel]:
        """Replace every channel with this list; a listed channel keeps its id (and stored secrets) when it
        names that id, or else has a stored channel's name."""
        await self.repository.lock()
        stored = {channel.id: channel for channel in await self.repository.list()}
        by_name = {channel.name: channel for channel in stored.values()}
        claimed = {channel.id for channel in channels if channel.id is not None}
        self._check_names(channels)
        await self._check_teams(channels)
        specs = []
        for index, channel in enumerate(channels):
            if channel.id is not None and channel.id not in stored:
                raise InvalidChannel(
                    f"Channel {index} names id {channel.id}, which is not a stored channel",
                    detail={"field": f"[{index}].id", "id": channel.id},
                )
            previous = stored.get(channel.id) if channel.id is not None else by_name.get(channel.name)
            if previous is not None and channel.id is None and previous.id in claimed:
                previous = None  # its name is taken over, while the listed channel with its id keeps it
            config = await self._config(index, channel, previous)
            values = channel.model_dump(exclude={"id", "config"})
            specs.append({**values, "id": previous.id if previous is not None else None, "config": config})
        saved = await self.repository.replace(specs)
        await audit.record(
            self.session,
            "notification_channels.replaced",
            "notification_channels",
            "all",
            actor_id=actor.id,
            names=[channel.name for channel in saved],
        )
        log.info("notifications.channels_replaced", count=len(saved))
        return saved

    def _check_names(self, channels: Sequence[ChannelWrite]) -> None:
        seen: set[str] = set()
        ids: set[uuid.UUID] = set()
        for index, channel in enumerate(channels):
            if channel.name.lower() in seen:
                raise InvalidChannel(f"Two channels are named {channel.name!r}", detail={"field": f"[{index}].name"})
            if channel.id is not None and channel.id in ids:
                raise InvalidChannel(f"Two channels name id {channel.id}", detail={"field": f"[{index}].id"})
            seen.add(channel.name.lower())
            if channel.id is not None:
                ids.add(channel.id)

    async def _check_teams(self, channels: Sequence[ChannelWrite]) -> None:
        wanted = {channel.team_id for channel in channels if channel.team_id is not None}
        missing = wanted - await TeamRepository(self.session).existing_ids(wanted)
        for index, channel in enumerate(channels):
            if channel.team_id in missing:
                raise InvalidChannel(
                    f"Channel {index} names team {channel.team_id}, which does not exist",
                    detail={"field": f"[{index}].team_id", "team_id": channel.team_id},
                )

    async def _config(self, index: int, channel: ChannelWrite, previous: NotificationChannel | None) -> dict[str, Any]:
        """The configuration to store: masked values replaced by the stored ones, a new URL checked."""
        config = channel.config.model_dump(exclude_none=True)
        kept = previous.config if previous is not None and previous.kind == channel.kind else {}
        for key in SECRET_KEYS:
            if config.get(key) == MASK:
                if not kept.get(key):
                    raise MaskedValueUnknown(
                        f"Channel {index}: {key} is masked but no stored channel of this kind has one",
                        detail={"field": f"[{index}].config.{key}"},
                    )
                config[key] = kept[key]
        url = config.get("url")
        if url is None:
            return config
        if MASK in url:
            if not kept.get("url") or url != mask_url(channel.kind, kept["url"]):
                raise MaskedValueUnknown(
                    f"Channel {index}: the URL is masked but differs from the stored one; send it whole",
                    detail={"field": f"[{index}].config.url"},
                )
            config["url"] = kept["url"]
        elif url != kept.get("url"):
            await self._check_url(index, url)
        return config

    async def _check_url(self, index: int, url: str) -> None:
        field = {"field": f"[{index}].config.url"}
        try:
            await asyncio.wait_for(check_url(url, self.policy), _RESOLVE_TIMEOUT)
        except UnsafeDestination as exc:
            raise UnsafeChannelUrl(f"Channel {index}: {exc}", detail=field) from None
        except (OSError, TimeoutError):
            raise InvalidChannel(f"Channel {index}: the URL's host does not resolve", detail=field) from None
        except (httpx.InvalidURL, ValueError):  # ValueError: a host name IDNA cannot encode
            raise InvalidChannel(f"Channel {index}: not a valid URL", detail=field) from None

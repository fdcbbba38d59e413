"""`GET /api/v1/notifications/deliveries` (staff: the outbox, every delivery and how it went) and
`GET/PUT /api/v1/notification-channels` (admins: DingTalk robots, Slack and generic webhooks, e-mail lists)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from loopdesk.auth.deps import AdminUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import error_body
from loopdesk.core.schemas import Page
from loopdesk.notifications.channels import ChannelService, channel_read
from loopdesk.notifications.schemas import MAX_CHANNELS, ChannelRead, ChannelWrite, DeliveryQuery, DeliveryRead
from loopdesk.notifications.service import list_deliveries
from loopdesk.tools.net import OutboundPolicy

router = APIRouter(tags=["notifications"])


async def _channel_service(session: SessionDep, settings: SettingsDep) -> ChannelService:
    return ChannelService(session, OutboundPolicy.from_allowlist(settings.outbound.allowlist))


ChannelServiceDep = Annotated[ChannelService, Depends(_channel_service)]
ChannelsBody = Annotated[list[ChannelWrite], Body(max_length=MAX_CHANNELS)]


def _example(code: str, message: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": error_body(code, message)}}}


PUT_ERRORS: dict[int | str, dict[str, Any]] = {
    422: _example(
        "unsafe_url",
        "Channel 0: 10.0.0.5 resolves to a private or reserved address",
        "A URL reaches a private address not allow-listed (`unsafe_url`), a masked value matches no stored one "
        "(`masked_value_unknown`), names or ids repeat, a team does not exist (`invalid_channel`)",
    )
}


@router.get("/api/v1/notifications/deliveries", response_model=Page[DeliveryRead])
async def list_notification_deliveries(
    user: StaffUser, session: SessionDep, query: Annotated[DeliveryQuery, Query()]
) -> Page[DeliveryRead]:
    """Every notification written (newest first): to whom, over what, and whether it went out."""
    rows, total = await list_deliveries(
        session,
        task_id=query.task_id,
        status=query.status,
        kind=query.kind,
        event=query.event,
        limit=query.limit,
        offset=query.offset,
    )
    items = [DeliveryRead.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=query.limit, offset=query.offset)


@router.get("/api/v1/notification-channels", response_model=list[ChannelRead])
async def list_notification_channels(user: AdminUser, service: ChannelServiceDep) -> list[ChannelRead]:
    """The channels by name, secrets and URL tokens masked."""
    return [channel_read(channel) for channel in await service.list()]


@router.put("/api/v1/notification-channels", response_model=list[ChannelRead], responses=PUT_ERRORS)
async def replace_notification_channels(
    channels: ChannelsBody, user: AdminUser, service: ChannelServiceDep
) -> list[ChannelRead]:
    """Replace every channel with this JSON array. A masked value sent back (as GET returns it) keeps the
    stored one; a new URL must not reach a private address unless LOOPDESK_NET_ALLOWLIST allows it."""
    return [channel_read(channel) for channel in await service.replace(user, channels)]

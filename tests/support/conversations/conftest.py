"""Conversation tests: the shop plugin's tools (tests/tools/plugins), and the conversation routes served."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from loopdesk.app import create_app
from loopdesk.core.settings import Settings
from loopdesk.support.conversations.service import record_event
from tests.tools.conftest import PLUGINS


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.tools.plugins_dir = PLUGINS
    # The worker's own sweep must not close what a test plants in the past: the tests call it themselves.
    settings.support.support_quiet_minutes = 30 * 24 * 60
    return settings


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30):
        yield application


async def new_thread(client, account) -> uuid.UUID:
    response = await client.post("/threads", json={}, headers=account.headers)
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["thread_id"])


async def record(app, thread_id: uuid.UUID, kind: str, *, at: datetime | None = None, **fields: Any) -> int | None:
    """One event, in a transaction of its own (as a request or a job would write it)."""
    async with app.state.database.sessionmaker() as session, session.begin():
        return await record_event(session, thread_id=thread_id, kind=kind, at=at, **fields)


async def conversation(app, thread_id: uuid.UUID):
    from loopdesk.support.conversations.models import Conversation

    async with app.state.database.sessionmaker() as session:
        return await session.get(Conversation, thread_id)


async def events(app, thread_id: uuid.UUID):
    from sqlalchemy import select

    from loopdesk.support.conversations.models import SupportEvent

    async with app.state.database.sessionmaker() as session:
        statement = select(SupportEvent).where(SupportEvent.thread_id == thread_id).order_by(SupportEvent.id)
        return (await session.scalars(statement)).all()

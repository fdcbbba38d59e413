"""Fixtures of the notification tests: the test's migrated database, people and tasks written to it directly,
and settings that reach the local servers (127.0.0.1 allow-listed, SMTP without TLS, short backoff)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import select

from loopdesk.core.db import Database
from loopdesk.core.settings import NotificationSettings, Settings
from loopdesk.feedback.models import Task
from loopdesk.notifications.models import NotificationChannel, NotificationDelivery
from loopdesk.notifications.service import notify
from loopdesk.users.models import User

_numbers = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.runtime.worker = False  # the tests send themselves: no worker races them for the rows
    settings.outbound.outbound_allowlist = ["127.0.0.1"]
    settings.notifications = NotificationSettings(
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        smtp_from="desk@loopdesk.test",
        notification_max_attempts=3,
        notification_backoff_seconds=60,
        _env_file=None,
    )
    return settings


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.connect(database_url, pool_size=4, max_overflow=0)
    yield db
    await db.dispose()


async def add_user(database: Database, name: str, *, role: str = "customer", active: bool = True) -> User:
    user = User(
        id=uuid.uuid4(),
        email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
        display_name=name,
        password_hash="!",
        role=role,
        is_active=active,
    )
    async with database.sessionmaker() as session, session.begin():
        session.add(user)
    return user


async def add_task(database: Database, reporter: User, **fields: Any) -> Task:
    values = {
        "task_number": f"FB-2026-{next(_numbers):06d}",
        "title": "Payment page crashes",
        "description": "It crashes when I pay.",
        "issue_type": "bug",
        "region": "international",
        "priority_level": "P1",
        "source_channel": "web",
        "workflow_stage": "plan_review",
        "reporter_id": reporter.id,
        **fields,
    }
    task = Task(id=uuid.uuid4(), **values)
    async with database.sessionmaker() as session, session.begin():
        session.add(task)
    return task


async def add_channel(database: Database, name: str, kind: str, config: dict[str, Any], **fields: Any):
    channel = NotificationChannel(id=uuid.uuid4(), name=name, kind=kind, config=config, **fields)
    async with database.sessionmaker() as session, session.begin():
        session.add(channel)
    return channel


async def notify_now(
    database: Database,
    task: Task,
    users: Iterable[uuid.UUID],
    *,
    event: str = "stage:plan_review",
    event_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> list[int]:
    """`notify` in a transaction of its own, as the workflow calls it; the ids of the pending rows."""
    async with database.sessionmaker() as session, session.begin():
        return await notify(
            session, task, event=event, event_id=event_id, users=list(users), data=data or {"stage": "plan_review"}
        )


async def deliveries(database: Database, **where: Any) -> list[NotificationDelivery]:
    async with database.sessionmaker() as session:
        statement = select(NotificationDelivery).filter_by(**where).order_by(NotificationDelivery.id)
        return list(await session.scalars(statement))


def by_kind(rows: Iterable[NotificationDelivery]) -> Callable[[str], list[NotificationDelivery]]:
    listed = list(rows)
    return lambda kind: [row for row in listed if row.kind == kind]

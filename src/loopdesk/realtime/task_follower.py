"""`task_update` frames for one WebSocket.

- A task follower (`subscribe {task_id}` / `subscribe_task`): the task's timeline entries after the subscription,
  in order, read from `task_events` (the durable record), woken by the NOTIFY every new entry sends. A reporter who
  joined the task as a duplicate's reporter gets its stage changes only (as over REST).
- A user follower (every connection): the WebSocket notifications addressed to the connection's user (the
  outbox's `websocket` deliveries: the reporter, the assignee, the team lead, per stage), for the tasks the
  connection does not follow already.
Both read from PostgreSQL, so the API process a socket landed on does not matter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from loopdesk.feedback.repository import task_key
from loopdesk.runtime.runs.events import EventBus, fetch, user_key, wait_for

log = structlog.get_logger("loopdesk.realtime")

Send = Callable[[dict[str, Any]], Awaitable[None]]
RECHECK_SECONDS = 30.0
BATCH = 200

_EVENTS = (
    "SELECT e.id, e.kind, e.at, e.actor_id, e.from_value, e.to_value, e.reason, t.task_number, t.workflow_stage"
    " FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE e.task_id = %s AND e.id > %s"
)
_LAST_EVENT = "SELECT coalesce(max(id), 0) AS id FROM task_events WHERE task_id = %s"
_DELIVERIES = (
    "SELECT d.id, d.task_id, d.event, d.payload, d.created_at, t.task_number, t.workflow_stage"
    " FROM notification_deliveries d LEFT JOIN tasks t ON t.id = d.task_id"
    " WHERE d.user_id = %s AND d.kind = 'websocket' AND d.id > %s ORDER BY d.id LIMIT %s"
)
_LAST_DELIVERY = (
    "SELECT coalesce(max(id), 0) AS id FROM notification_deliveries WHERE user_id = %s AND kind = 'websocket'"
)


def support_frame(row: Any, conversation: dict[str, Any]) -> dict[str, Any]:
    """A staff member's notice about a support conversation: handed to people, or a message while taken over."""
    payload = row["payload"] or {}
    return {
        "type": "support_update",
        "event_id": f"notification:{row['id']}",
        "kind": row["event"],
        "thread_id": conversation.get("thread_id"),
        "escalation_id": conversation.get("escalation_id"),
        "reason": conversation.get("reason"),
        "text": payload.get("text"),
        "at": _iso(row["created_at"]),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class TaskFollower:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: EventBus,
        task_id: uuid.UUID,
        send: Send,
        *,
        stages_only: bool,
        show_actor: bool,
    ):
        self.pool = pool
        self.bus = bus
        self.task_id = task_id
        self.send = send
        self.stages_only = stages_only
        self.show_actor = show_actor

    async def run(self) -> None:
        async with self.bus.subscribe(task_key(self.task_id)) as waiter:
            after = int((await fetch(self.pool, _LAST_EVENT, (self.task_id,)))[0]["id"])
            delay = 0.1
            while True:
                try:
                    waiter.clear()
                    query = _EVENTS + (" AND e.kind = 'stage'" if self.stages_only else "") + " ORDER BY e.id LIMIT %s"
                    rows = await fetch(self.pool, query, (self.task_id, after, BATCH))
                    for row in rows:
                        after = row["id"]
                        await self.send(self.frame(row))
                    if len(rows) < BATCH:
                        await wait_for(waiter, RECHECK_SECONDS)
                    delay = 0.1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # the database blinked: retry
                    log.warning("realtime.task_follow_retry", task_id=str(self.task_id), error=type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

    def frame(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "task_update",
            "event_id": f"task:{self.task_id}:{row['id']}",
            "task_id": str(self.task_id),
            "task_number": row["task_number"],
            "stage": row["workflow_stage"],
            "kind": row["kind"],
            "from_value": row["from_value"],
            "to_value": row["to_value"],
            "reason": row["reason"] if self.show_actor or row["kind"] == "stage" else None,
            "actor_id": str(row["actor_id"]) if self.show_actor and row["actor_id"] else None,
            "at": _iso(row["at"]),
        }


class UserFollower:
    """The user's WebSocket notifications, except for tasks in `following` (their follower sends those)."""

    def __init__(self, pool: AsyncConnectionPool, bus: EventBus, user_id: uuid.UUID, send: Send, following: set[str]):
        self.pool = pool
        self.bus = bus
        self.user_id = user_id
        self.send = send
        self.following = following

    async def run(self) -> None:
        async with self.bus.subscribe(user_key(self.user_id)) as waiter:
            after = int((await fetch(self.pool, _LAST_DELIVERY, (self.user_id,)))[0]["id"])
            delay = 0.1
            while True:
                try:
                    waiter.clear()
                    rows = await fetch(self.pool, _DELIVERIES, (self.user_id, after, BATCH))
                    for row in rows:
                        after = row["id"]
                        task_id = str(row["task_id"]) if row["task_id"] else None
                        conversation = (row["payload"] or {}).get("conversation")
                        if task_id is None and isinstance(conversation, dict):  # support: escalations, messages
                            await self.send(support_frame(row, conversation))
                            continue
                        if task_id is None or task_id in self.following:
                            continue
                        data = (row["payload"] or {}).get("data") or {}
                        await self.send(
                            {
                                "type": "task_update",
                                "event_id": f"notification:{row['id']}",
                                "task_id": task_id,
                                "task_number": row["task_number"],
                                "stage": row["workflow_stage"],
                                "kind": row["event"],
                                "from_value": data.get("from"),
                                "to_value": data.get("stage"),
                                "reason": data.get("reason"),
                                "actor_id": None,
                                "at": _iso(row["created_at"]),
                            }
                        )
                    if len(rows) < BATCH:
                        await wait_for(waiter, RECHECK_SECONDS)
                    delay = 0.1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("realtime.user_follow_retry", error=type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

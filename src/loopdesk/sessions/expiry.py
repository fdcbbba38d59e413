"""When a session expires: the one rule, read by the sessions API (status, expires_at) and enforced where
every run is created (RunService.create), so that an expired session's thread refuses runs from execute,
the Agent Protocol and the WebSocket alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from loopdesk.core.errors import LoopdeskError
from loopdesk.runtime.threads.models import Thread


class SessionClock(Protocol):
    """What the expiry rule reads of a session: a UserSession row, or just these two columns of it."""

    ttl_minutes: float | None
    last_activity_at: datetime


class SessionExpired(LoopdeskError):
    status_code, code, message = 410, "session_expired", "The session expired: start a new one (it stays readable)"


def expires_at(row: SessionClock, thread: Thread) -> datetime | None:
    """The expiry slides: `ttl_minutes` after the later of the session's and the thread's last activity."""
    ttl = row.ttl_minutes
    return max(row.last_activity_at, thread.updated_at) + timedelta(minutes=ttl) if ttl else None


def is_expired(row: SessionClock, thread: Thread, now: datetime | None = None) -> bool:
    """A run in progress keeps its session alive."""
    when = expires_at(row, thread)
    return thread.status != "busy" and when is not None and when <= (now or datetime.now(UTC))


def check_session_open(row: SessionClock | None, thread: Thread) -> None:
    """Raise SessionExpired when the thread is an expired session's (`row`: its session, None for a thread
    that is not a session's); other threads pass."""
    if row is not None and is_expired(row, thread):
        when = expires_at(row, thread)
        detail = {"session_id": str(thread.thread_id), "expired_at": when.isoformat() if when else None}
        raise SessionExpired(detail=detail)

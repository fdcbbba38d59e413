"""The per-user limit on starting runs (session execute, Agent Protocol run creation, chat messages,
and crons' firings, counted against the cron's owner): LOOPDESK_RUN_RATE_LIMIT for customers,
LOOPDESK_STAFF_RUN_RATE_LIMIT for staff and admins. Approval resumes continue a counted run: not counted."""

from __future__ import annotations

from fastapi import Depends, Request

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.ratelimit import RateLimiter, rate
from loopdesk.core.settings import SessionSettings
from loopdesk.users.models import User


async def check_run_rate(limiter: RateLimiter, settings: SessionSettings, user: User, *, cost: int = 1) -> None:
    """Count `cost` runs for the user, or raise RateLimited (429 with Retry-After)."""
    limit = rate(settings.staff_run_rate_limit if user.is_staff else settings.run_rate_limit)
    await limiter.check(limit, "runs", str(user.id), cost=cost)


async def _one_run(request: Request, user: CurrentUser) -> None:
    state = request.app.state
    await check_run_rate(state.rate_limiter, state.settings.sessions, user)


RunRateLimit = Depends(_one_run)

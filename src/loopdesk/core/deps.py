"""Process-wide objects handed to handlers as typed dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]

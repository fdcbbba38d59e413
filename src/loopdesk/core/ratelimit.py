"""Rate limits on the maintained `limits` library: in memory per process by default, shared
across processes through Redis when LOOPDESK_REDIS_URL is set. While Redis cannot be reached the limits are
counted per process (logged once per outage) instead of failing the request: Redis only shares the counts."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from loopdesk.core.errors import RateLimited

log = structlog.get_logger("loopdesk.ratelimit")


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - the redis extra is not installed: no shared storage either
        return (OSError,)
    return (OSError, RedisConnectionError, RedisTimeoutError)


class RateLimiter:
    def __init__(self, storage: Storage | None = None):
        self.storage: Storage = storage or storage_from_string("async+memory://")  # type: ignore[assignment]
        self.strategy = MovingWindowRateLimiter(self.storage)
        self._local = MovingWindowRateLimiter(storage_from_string("async+memory://"))  # type: ignore[arg-type]
        self._unreachable = _unreachable_errors()
        self._degraded = False

    async def _on(self, call: Callable[[MovingWindowRateLimiter], Awaitable[Any]]) -> Any:
        """`call` on the shared counts, or on this process's own while the shared storage is unreachable."""
        try:
            result = await call(self.strategy)
        except self._unreachable as exc:
            if not self._degraded:
                log.warning("ratelimit.storage_unavailable", error=type(exc).__name__, counting="per process")
                self._degraded = True
            return await call(self._local)
        if self._degraded:
            log.info("ratelimit.storage_back")
            self._degraded = False
        return result

    @classmethod
    def from_redis_url(cls, redis_url: str | None) -> RateLimiter:
        """Counters in Redis (shared by every process) when a URL is given, else in this process."""
        if not redis_url:
            return cls()
        scheme, sep, rest = redis_url.partition("://")
        if not sep or scheme not in ("redis", "rediss", "redis+unix"):
            raise ValueError("LOOPDESK_REDIS_URL must start with redis://, rediss:// or redis+unix://")
        # redis-py (already a dependency of the redis extra) rather than limits' default coredis.
        storage = storage_from_string(f"async+{scheme}://{rest}", implementation="redispy", key_prefix="loopdesk")
        return cls(storage)  # type: ignore[arg-type]

    async def retry_after(self, limit: RateLimitItem, *keys: str) -> int | None:
        """Seconds to wait if the limit is exhausted for `keys`, else None (does not count a hit)."""
        if await self._on(lambda s: s.test(limit, *keys)):
            return None
        stats = await self._on(lambda s: s.get_window_stats(limit, *keys))
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def count(self, limit: RateLimitItem, *keys: str) -> int:
        """Hits counted for `keys` in the current window (at most the limit's amount)."""
        stats = await self._on(lambda s: s.get_window_stats(limit, *keys))
        return limit.amount - stats.remaining

    async def hit(self, limit: RateLimitItem, *keys: str) -> bool:
        return await self._on(lambda s: s.hit(limit, *keys))

    async def check(self, limit: RateLimitItem, *keys: str, cost: int = 1) -> None:
        """Count `cost` hits, or raise RateLimited with Retry-After when the limit is exhausted."""
        if not await self._on(lambda s: s.hit(limit, *keys, cost=cost)):
            stats = await self._on(lambda s: s.get_window_stats(limit, *keys))
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))


def rate(value: str) -> RateLimitItem:
    return parse(value)

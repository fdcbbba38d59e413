import uuid

import pytest

from loopdesk.core.errors import RateLimited
from loopdesk.core.ratelimit import RateLimiter, rate


async def test_limits_in_redis_are_shared_between_processes(redis_url):
    # Two limiters on one Redis stand for two API processes.
    first, second = RateLimiter.from_redis_url(redis_url), RateLimiter.from_redis_url(redis_url)
    limit, key = rate("3/minute"), uuid.uuid4().hex
    assert await first.hit(limit, key) and await second.hit(limit, key) and await first.hit(limit, key)
    with pytest.raises(RateLimited) as caught:
        await second.check(limit, key)
    assert 1 <= caught.value.detail["retry_after"] <= 60
    assert await RateLimiter().hit(limit, key)  # an in-process limiter counts on its own


async def test_login_lockout_holds_across_two_api_processes(settings, redis_url, make_account, client):
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient
    from pydantic import SecretStr

    from loopdesk.app import create_app

    account = await make_account("redis-user")
    settings.redis.redis_url = SecretStr(redis_url)
    one, two = create_app(settings), create_app(settings)
    async with LifespanManager(one), LifespanManager(two):
        clients = [AsyncClient(transport=ASGITransport(app=a), base_url="http://testserver") for a in (one, two)]
        for i in range(5):
            wrong = {"email": account.email, "password": f"wrong-{i}-password"}
            assert (await clients[i % 2].post("/api/v1/auth/login", json=wrong)).status_code == 401
        locked = await clients[1].post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        assert locked.status_code == 429
        for http in clients:
            await http.aclose()


def test_a_malformed_redis_url_is_refused_clearly():
    with pytest.raises(ValueError, match="LOOPDESK_REDIS_URL"):
        RateLimiter.from_redis_url("http://localhost:6379")


async def test_with_redis_unreachable_limits_are_counted_per_process_instead_of_failing_requests():
    import socket

    with socket.socket() as sock:  # a port nothing listens on: Redis is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limiter = RateLimiter.from_redis_url(f"redis://127.0.0.1:{port}/0")
    limit = rate("2/minute")
    await limiter.check(limit, "down", "caller")
    await limiter.check(limit, "down", "caller")
    with pytest.raises(RateLimited):
        await limiter.check(limit, "down", "caller")
    assert await limiter.count(limit, "down", "caller") == 2
    assert await limiter.retry_after(limit, "down", "caller") is not None

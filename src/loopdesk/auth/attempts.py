"""Password guesses (logins, `current_password` checks), limited so that no attacker can lock the owner out.

Failures lock an account out for one client address only; across addresses they never lock, they slow
every attempt on the account by a bounded, growing wait (see the login_* settings in AuthSettings)."""

from __future__ import annotations

from asyncio import sleep
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request

from loopdesk.core.deps import RateLimiterDep, SettingsDep
from loopdesk.core.errors import RateLimited
from loopdesk.core.ratelimit import RateLimiter, rate
from loopdesk.core.settings import AuthSettings
from loopdesk.users.models import User

# The first wait once an account passes login_slowdown_per_account; each further failure doubles it.
FIRST_WAIT_SECONDS = 0.25
# Failures counted past the threshold: enough doublings to reach any allowed maximum (10 s).
_COUNTED_PAST_THRESHOLD = 8


def slowdown_seconds(failures: int, threshold: int, max_seconds: float) -> float:
    """The wait before a password check on an account with `failures` recent failures from anywhere."""
    if failures < threshold:
        return 0.0
    return min(max_seconds, FIRST_WAIT_SECONDS * 2 ** min(failures - threshold, _COUNTED_PAST_THRESHOLD))


def account_names(user: User) -> list[str]:
    """The names an account logs in with; its failures slow down each of them."""
    return [user.email, user.username] if user.username else [user.email]


class PasswordAttempts:
    """The limits on password checks from one client address."""

    def __init__(self, limiter: RateLimiter, settings: AuthSettings, client_ip: str):
        self.limiter = limiter
        self.client_ip = client_ip
        self.address_limit = rate(settings.login_limit_per_ip)
        self.lockout = rate(settings.login_limit_per_account)
        slowdown = rate(settings.login_slowdown_per_account)
        self.threshold = slowdown.amount
        self.max_wait = settings.login_slowdown_max_seconds
        # The same window, with room to count the failures that keep doubling the wait.
        self.failures = type(slowdown)(slowdown.amount + _COUNTED_PAST_THRESHOLD, slowdown.multiples)

    async def check_address(self) -> None:
        """Every check counts against the address, bounding what one client costs us in argon2."""
        await self.limiter.check(self.address_limit, "login-ip", self.client_ip)

    async def slow_down(self, name: str) -> None:
        """Wait in proportion to the recent failures on the account `name` (e-mail or username) from anywhere.
        Called before the database is touched, so a waiting request holds no connection."""
        failures = await self.limiter.count(self.failures, "login-failures", name)
        wait = slowdown_seconds(failures, self.threshold, self.max_wait)
        if wait > 0:
            await sleep(wait)

    async def check_account(self, account: str) -> None:
        """429 if this address has failed too often for this account; other addresses are unaffected."""
        wait = await self.limiter.retry_after(self.lockout, "login-account", account, self.client_ip)
        if wait is not None:
            raise RateLimited(wait, "Too many failed password attempts for this account; try again later")

    async def failed(self, account: str, names: Iterable[str]) -> None:
        """Count a wrong password against (account, address) and against each of the account's names."""
        await self.limiter.hit(self.lockout, "login-account", account, self.client_ip)
        for name in names:
            await self.limiter.hit(self.failures, "login-failures", name)


async def client_address(request: Request) -> str:
    """The caller's address; behind a proxy uvicorn (proxy_headers=True) has already taken it from X-Forwarded-For."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


async def get_password_attempts(
    client_ip: ClientAddress, settings: SettingsDep, limiter: RateLimiterDep
) -> PasswordAttempts:
    return PasswordAttempts(limiter, settings.auth, client_ip)


PasswordAttemptsDep = Annotated[PasswordAttempts, Depends(get_password_attempts)]

"""Ending open sockets and streams when their credential stops holding. Revocations are made on any
API process (and Redis is optional), so each process re-checks the credentials its own sockets and
streams stand on, all in one query every LOOPDESK_CREDENTIAL_CHECK_SECONDS, and ends those that fail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import structlog

from loopdesk.auth.credentials import Credential, CredentialService
from loopdesk.core.db import Database

log = structlog.get_logger("loopdesk.auth")

T = TypeVar("T")


class Revocation:
    """Set, with the reason, when the watched credential stops holding."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason: str | None = None

    def revoke(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._event.set()

    async def wait(self) -> str:
        await self._event.wait()
        assert self.reason is not None
        return self.reason


class CredentialWatch:
    """The process's watched credentials and the task that re-checks them."""

    def __init__(self, database: Database, interval: float):
        self.database = database
        self.interval = interval
        self._watched: dict[Credential, set[Revocation]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="credential-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def watching(self, credential: Credential) -> Iterator[Revocation]:
        revocation = Revocation()
        self._watched.setdefault(credential, set()).add(revocation)
        try:
            yield revocation
        finally:
            revocations = self._watched.get(credential)
            if revocations is not None:
                revocations.discard(revocation)
                if not revocations:
                    del self._watched[credential]

    async def check(self) -> None:
        """Re-check every watched credential once; revoke the watchers of those that fail."""
        if not self._watched:
            return
        async with self.database.sessionmaker() as session:
            revoked = await CredentialService(session).revoked(list(self._watched))
        for credential, reason in revoked.items():
            log.info("auth.access_ended", user_id=str(credential.user_id), reason=reason)
            for revocation in list(self._watched.get(credential, ())):
                revocation.revoke(reason)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - the database is away: keep what is open, check again later
                log.warning("auth.credential_check_failed", error=repr(exc))

    async def guard(
        self, stream: AsyncIterator[T], credential: Credential, farewell: Callable[[str], T]
    ) -> AsyncIterator[T]:
        """Pass a response stream through until its credential stops holding; then send
        `farewell(reason)` and end it."""
        with self.watching(credential) as revocation:
            revoked = asyncio.ensure_future(revocation.wait())
            chunk: asyncio.Task[tuple[T] | None] | None = None
            try:
                while True:
                    chunk = asyncio.create_task(_next(stream))
                    await asyncio.wait({chunk, revoked}, return_when=asyncio.FIRST_COMPLETED)
                    if not chunk.done():
                        yield farewell(revoked.result())
                        return
                    item = chunk.result()
                    if item is None:
                        return
                    yield item[0]
            finally:
                revoked.cancel()
                if chunk is not None and not chunk.done():
                    chunk.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await chunk
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()


async def _next(stream: AsyncIterator[T]) -> tuple[T] | None:
    """The stream's next item (boxed, so that any value can pass), None at its end."""
    try:
        return (await anext(stream),)
    except StopAsyncIteration:
        return None

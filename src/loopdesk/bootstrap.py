"""What every loopdesk process is built on, wired in one place: `serve` (app.py's lifespan) and `loopdesk
worker` (cli.py) both open their database, LangGraph's persistence, the live-event path, the rate limiter
and the tool layer here, and close them in the reverse order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loopdesk.core.db import Database, resolve_database_url
from loopdesk.core.embedded import leave_embedded_postgres
from loopdesk.core.migrate import run_migrations
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import Settings
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.runs.events import EventBus, LocalPublisher, Publisher
from loopdesk.runtime.runs.redis_fanout import RedisPublisher
from loopdesk.runtime.worker import QueueWorker
from loopdesk.tools.runtime import ToolRuntime
from loopdesk.tools.setup import start_tools, stop_tools


@dataclass
class Services:
    """The process-wide objects of one loopdesk process."""

    settings: Settings
    graphs: GraphRegistry
    url: str  # the database's, libpq form
    database: Database
    persistence: Persistence
    bus: EventBus | None  # readers of the event log (API processes only)
    publisher: Publisher | None  # how live events reach readers: in-process, Redis, or the log alone
    rate_limiter: RateLimiter
    tools: ToolRuntime

    def queue_worker(self) -> QueueWorker:
        """A queue worker on these services (its runs count against the same rate limiter)."""
        return QueueWorker.build(
            self.url,
            self.settings,
            self.database,
            self.persistence,
            self.graphs,
            self.publisher,
            limiter=self.rate_limiter,
        )


@asynccontextmanager
async def opened(settings: Settings, graphs: GraphRegistry, *, readers: bool) -> AsyncIterator[Services]:
    """Open a process's services (migrating first when configured); `readers`: this process serves streams
    and waits (an API process), so it listens to the event log."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    if settings.database.migrate_on_start:
        await asyncio.to_thread(run_migrations, url)
    prepared = settings.database.db_prepared_statements
    database = Database.connect(
        url,
        pool_size=settings.database.db_pool_size,
        max_overflow=settings.database.db_max_overflow,
        prepared=prepared,
    )
    persistence = bus = publisher = tools = None
    try:
        persistence = await Persistence.open(
            url, max_size=settings.database.db_pool_size, index=graphs.store_index, prepared=prepared
        )
        redis_url = settings.redis.redis_url.get_secret_value() if settings.redis.redis_url else None
        if readers:
            bus = EventBus(url, redis_url=redis_url)
            await bus.start()
        # Live events reach API processes through Redis when it is configured; a worker inside `serve` hands
        # them to its own readers; a worker alone without Redis leaves readers to the log.
        if redis_url:
            publisher = RedisPublisher(redis_url)
        elif bus is not None:
            publisher = LocalPublisher(bus)
        tools = await start_tools(database, settings, graphs=graphs, persistence=persistence)
        yield Services(
            settings=settings,
            graphs=graphs,
            url=url,
            database=database,
            persistence=persistence,
            bus=bus,
            publisher=publisher,
            rate_limiter=RateLimiter.from_redis_url(redis_url),
            tools=tools,
        )
    finally:
        if tools is not None:
            await stop_tools(tools)
        if isinstance(publisher, RedisPublisher):
            await publisher.close()
        if bus is not None:
            await bus.stop()
        if persistence is not None:
            await persistence.close()
        await database.dispose()
        if settings.database.database_url is None:
            await asyncio.to_thread(leave_embedded_postgres, settings.database.data_dir)

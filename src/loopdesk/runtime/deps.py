"""The runtime's process-wide objects as typed dependencies (set on app.state by the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from loopdesk.auth.watch import CredentialWatch
from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.runs.events import EventBus


async def get_graphs(request: Request) -> GraphRegistry:
    return request.app.state.graphs


async def get_persistence(request: Request) -> Persistence:
    return request.app.state.persistence


GraphsDep = Annotated[GraphRegistry, Depends(get_graphs)]
PersistenceDep = Annotated[Persistence, Depends(get_persistence)]


@dataclass(frozen=True, slots=True)
class Readers:
    """What streaming and waiting handlers need from the process: the event log's pool and bus, the
    settings, and the watch that ends a response when the caller's credential is revoked."""

    pool: AsyncConnectionPool
    persistence: Persistence
    bus: EventBus
    settings: Settings
    database: Database
    graphs: GraphRegistry
    watch: CredentialWatch

    @property
    def heartbeat(self) -> float:
        return self.settings.runtime.heartbeat_seconds


async def get_readers(request: Request) -> Readers:
    state = request.app.state
    return Readers(
        pool=state.persistence.pool,
        persistence=state.persistence,
        bus=state.event_bus,
        settings=state.settings,
        database=state.database,
        graphs=state.graphs,
        watch=state.credential_watch,
    )


ReadersDep = Annotated[Readers, Depends(get_readers)]

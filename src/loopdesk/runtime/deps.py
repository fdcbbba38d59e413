"""The runtime's process-wide objects as typed dependencies (set on app.state by the lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence


async def get_graphs(request: Request) -> GraphRegistry:
    return request.app.state.graphs


async def get_persistence(request: Request) -> Persistence:
    return request.app.state.persistence


GraphsDep = Annotated[GraphRegistry, Depends(get_graphs)]
PersistenceDep = Annotated[Persistence, Depends(get_persistence)]

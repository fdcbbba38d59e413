"""Agent Protocol: /threads, as the LangGraph SDK calls it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep, PersistenceDep
from loopdesk.runtime.paging import render_page
from loopdesk.runtime.threads.schemas import (
    HistoryQuery,
    StateAtCheckpoint,
    StateUpdate,
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadPrune,
    ThreadRead,
    ThreadSearch,
)
from loopdesk.runtime.threads.service import ThreadService

router = APIRouter(prefix="/threads", tags=["threads"])


async def _service(
    request: Request, session: SessionDep, graphs: GraphsDep, persistence: PersistenceDep
) -> ThreadService:
    return ThreadService(session, graphs, persistence, Authorizer(request))


ServiceDep = Annotated[ThreadService, Depends(_service)]


@router.post("", response_model=ThreadRead)
async def create_thread(data: ThreadCreate, user: CurrentUser, service: ServiceDep) -> ThreadRead:
    """Create a thread (`if_exists: do_nothing` returns an existing one); `ttl` is minutes of inactivity."""
    return ThreadRead.model_validate(await service.create(user, data))


@router.post("/search", response_model=list[dict[str, Any]])
async def search_threads(
    query: ThreadSearch, response: Response, user: CurrentUser, service: ServiceDep
) -> list[dict[str, Any]]:
    """Your threads, filtered by metadata / values (containment), ids and status; `X-Pagination-Next` pages."""
    rows, more = await service.search(user, query)
    items = [ThreadRead.model_validate(row) for row in rows]
    return render_page(response, items, offset=query.offset, limit=query.limit, more=more, select=query.select)


@router.post("/count", response_model=int)
async def count_threads(query: ThreadCount, user: CurrentUser, service: ServiceDep) -> int:
    return await service.count(user, query)


@router.post("/prune")
async def prune_threads(data: ThreadPrune, user: CurrentUser, service: ServiceDep) -> dict[str, int]:
    """Delete threads, or keep only their latest checkpoint (`strategy: keep_latest`)."""
    return {"pruned_count": await service.prune(user, data)}


@router.get("/{thread_id}", response_model=ThreadRead)
async def get_thread(thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> ThreadRead:
    return ThreadRead.model_validate(await service.get(user, thread_id))


@router.patch("/{thread_id}", response_model=ThreadRead)
async def patch_thread(thread_id: uuid.UUID, data: ThreadPatch, user: CurrentUser, service: ServiceDep) -> ThreadRead:
    """Merge metadata, or set a new TTL."""
    return ThreadRead.model_validate(await service.patch(user, thread_id, data))


@router.delete("/{thread_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_thread(thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> Response:
    """Delete the thread and its checkpoints."""
    await service.delete(user, thread_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{thread_id}/copy", response_model=ThreadRead)
async def copy_thread(thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> ThreadRead:
    """A new thread with this one's metadata and full checkpoint history."""
    return ThreadRead.model_validate(await service.copy(user, thread_id))


@router.get("/{thread_id}/state")
async def get_thread_state(
    thread_id: uuid.UUID, user: CurrentUser, service: ServiceDep, subgraphs: bool = False
) -> dict[str, Any]:
    return await service.get_state(user, thread_id, subgraphs=subgraphs)


@router.post("/{thread_id}/state")
async def update_thread_state(
    thread_id: uuid.UUID, data: StateUpdate, user: CurrentUser, service: ServiceDep
) -> dict[str, Any]:
    """Write values as if `as_node` had returned them; answers with the new checkpoint."""
    return await service.update_state(user, thread_id, data)


@router.post("/{thread_id}/state/checkpoint")
async def get_thread_state_at_checkpoint_body(
    thread_id: uuid.UUID, data: StateAtCheckpoint, user: CurrentUser, service: ServiceDep
) -> dict[str, Any]:
    return await service.get_state(user, thread_id, checkpoint=data.checkpoint, subgraphs=data.subgraphs)


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_thread_state_at_checkpoint(
    thread_id: uuid.UUID, checkpoint_id: str, user: CurrentUser, service: ServiceDep, subgraphs: bool = False
) -> dict[str, Any]:
    return await service.get_state(user, thread_id, checkpoint_id=checkpoint_id, subgraphs=subgraphs)


@router.post("/{thread_id}/history")
async def thread_history(
    thread_id: uuid.UUID, query: HistoryQuery, user: CurrentUser, service: ServiceDep
) -> list[dict[str, Any]]:
    """Past states, newest first."""
    return await service.history(user, thread_id, query)


@router.get("/{thread_id}/history")
async def thread_history_get(
    thread_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    before: Annotated[str | None, Query(max_length=100, description="a checkpoint id")] = None,
) -> list[dict[str, Any]]:
    return await service.history(user, thread_id, HistoryQuery(limit=limit, before=before))

"""Agent Protocol: /assistants, as the LangGraph SDK calls it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.runtime.assistants.schemas import (
    AssistantCount,
    AssistantCreate,
    AssistantPatch,
    AssistantRead,
    AssistantSearch,
    AssistantSetLatest,
    AssistantVersionRead,
    AssistantVersionsSearch,
)
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep
from loopdesk.runtime.graphs import graph_schemas
from loopdesk.runtime.paging import render_page

router = APIRouter(prefix="/assistants", tags=["assistants"])


async def _service(request: Request, session: SessionDep, graphs: GraphsDep) -> AssistantService:
    return AssistantService(session, graphs, Authorizer(request))


ServiceDep = Annotated[AssistantService, Depends(_service)]


@router.post("", response_model=AssistantRead)
async def create_assistant(data: AssistantCreate, user: CurrentUser, service: ServiceDep) -> AssistantRead:
    """Create an assistant for a registered graph; `if_exists: do_nothing` returns the existing one."""
    return AssistantRead.model_validate(await service.create(user, data))


@router.post("/search", response_model=list[dict[str, Any]])
async def search_assistants(
    query: AssistantSearch, response: Response, user: CurrentUser, service: ServiceDep
) -> list[dict[str, Any]]:
    """Assistants you can use (the graphs' defaults and your own); `X-Pagination-Next` holds the next offset."""
    rows, more = await service.search(user, query)
    items = [AssistantRead.model_validate(row) for row in rows]
    return render_page(response, items, offset=query.offset, limit=query.limit, more=more, select=query.select)


@router.post("/count", response_model=int)
async def count_assistants(query: AssistantCount, user: CurrentUser, service: ServiceDep) -> int:
    return await service.count(user, query)


@router.get("/{assistant_id}", response_model=AssistantRead)
async def get_assistant(assistant_id: str, user: CurrentUser, service: ServiceDep) -> AssistantRead:
    """By id, or by graph id for that graph's default assistant."""
    return AssistantRead.model_validate(await service.get(user, assistant_id))


@router.patch("/{assistant_id}", response_model=AssistantRead)
async def patch_assistant(
    assistant_id: str, data: AssistantPatch, user: CurrentUser, service: ServiceDep
) -> AssistantRead:
    """Change an assistant: the change is stored as a new version, which becomes current."""
    return AssistantRead.model_validate(await service.patch(user, assistant_id, data))


@router.delete("/{assistant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_assistant(assistant_id: str, user: CurrentUser, service: ServiceDep) -> Response:
    await service.delete(user, assistant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{assistant_id}/graph")
async def get_assistant_graph(
    assistant_id: str,
    user: CurrentUser,
    service: ServiceDep,
    xray: Annotated[int | bool, Query(description="include subgraphs, to this depth if a number")] = False,
) -> dict[str, Any]:
    """The graph's nodes and edges (drawable)."""
    assistant = await service.get(user, assistant_id)
    async with service.open_graph(user, assistant) as graph:
        return (await graph.aget_graph(xray=xray)).to_json()


@router.get("/{assistant_id}/schemas")
async def get_assistant_schemas(assistant_id: str, user: CurrentUser, service: ServiceDep) -> dict[str, Any]:
    """JSON schemas of the graph's input, output, state, config and context."""
    assistant = await service.get(user, assistant_id)
    async with service.open_graph(user, assistant) as graph:
        return graph_schemas(assistant.graph_id, graph)


@router.get("/{assistant_id}/subgraphs")
@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs(
    assistant_id: str,
    user: CurrentUser,
    service: ServiceDep,
    namespace: str | None = None,
    recurse: bool = False,
) -> dict[str, Any]:
    """Schemas of the graph's subgraphs, by namespace."""
    assistant = await service.get(user, assistant_id)
    async with service.open_graph(user, assistant) as graph:
        return {
            ns: graph_schemas(assistant.graph_id, sub)
            async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
        }


@router.post("/{assistant_id}/versions", response_model=list[AssistantVersionRead])
async def list_assistant_versions(
    assistant_id: str, query: AssistantVersionsSearch, user: CurrentUser, service: ServiceDep
) -> list[AssistantVersionRead]:
    """Versions, newest first."""
    return [AssistantVersionRead.model_validate(v) for v in await service.versions(user, assistant_id, query)]


@router.post("/{assistant_id}/latest", response_model=AssistantRead)
async def set_latest_assistant_version(
    assistant_id: str, data: AssistantSetLatest, user: CurrentUser, service: ServiceDep
) -> AssistantRead:
    """Make a stored version the current one."""
    return AssistantRead.model_validate(await service.set_latest(user, assistant_id, data.version))

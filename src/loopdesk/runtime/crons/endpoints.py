"""Agent Protocol: crons (scheduled runs), per thread or stateless, with a time zone."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.runtime.crons.schemas import CronCount, CronCreate, CronPatch, CronRead, CronSearch
from loopdesk.runtime.crons.service import CronService
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep
from loopdesk.runtime.paging import render_page

router = APIRouter(tags=["crons"])


async def _service(request: Request, session: SessionDep, graphs: GraphsDep, settings: SettingsDep) -> CronService:
    return CronService(session, graphs, Authorizer(request), max_per_customer=settings.runtime.max_crons_per_user)


ServiceDep = Annotated[CronService, Depends(_service)]


@router.post("/threads/{thread_id}/runs/crons", response_model=CronRead)
async def create_thread_cron(
    thread_id: uuid.UUID, data: CronCreate, user: CurrentUser, service: ServiceDep
) -> CronRead:
    """Run the assistant on this thread on a schedule (5-field cron, read in `timezone`, default UTC). A
    customer may own LOOPDESK_MAX_CRONS_PER_USER crons (one more: 409 `cron_limit_reached`)."""
    return CronRead.model_validate(await service.create(user, thread_id, data))


@router.post("/runs/crons", response_model=CronRead)
async def create_cron(data: CronCreate, user: CurrentUser, service: ServiceDep) -> CronRead:
    """A schedule whose every run gets a new thread (`on_run_completed`: delete it after, or keep it)."""
    return CronRead.model_validate(await service.create(user, None, data))


@router.post("/runs/crons/search", response_model=list[dict[str, Any]])
async def search_crons(query: CronSearch, response: Response, user: CurrentUser, service: ServiceDep) -> list[dict]:
    rows, more = await service.search(user, query)
    items = [CronRead.model_validate(row) for row in rows]
    return render_page(response, items, offset=query.offset, limit=query.limit, more=more, select=query.select)


@router.post("/runs/crons/count", response_model=int)
async def count_crons(query: CronCount, user: CurrentUser, service: ServiceDep) -> int:
    return await service.count(user, query)


@router.patch("/runs/crons/{cron_id}", response_model=CronRead)
async def patch_cron(cron_id: uuid.UUID, data: CronPatch, user: CurrentUser, service: ServiceDep) -> CronRead:
    """Change the schedule, time zone, end, enabled flag or the run it creates."""
    return CronRead.model_validate(await service.patch(user, cron_id, data))


@router.delete("/runs/crons/{cron_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_cron(cron_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> Response:
    await service.delete(user, cron_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Agent Protocol: runs, as the LangGraph SDK calls them (thread runs and stateless runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from loopdesk.auth.credentials import Credential
from loopdesk.auth.deps import CurrentCredential, CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import RateLimiterDep, SettingsDep
from loopdesk.core.errors import BadRequest, Conflict
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep, Readers, ReadersDep
from loopdesk.runtime.paging import render_page
from loopdesk.runtime.runs.events import dumps, has_event
from loopdesk.runtime.runs.limits import RunRateLimit, check_run_rate
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import RunCancelMany, RunCreate, RunListQuery, RunRead, RunStatus, StreamMode
from loopdesk.runtime.runs.service import RunNotFound, RunService
from loopdesk.runtime.runs.streaming import (
    access_ended_body,
    access_ended_event,
    guarded,
    mode_filter,
    sse_events,
    wait_outcome,
)
from loopdesk.users.models import User

router = APIRouter(tags=["runs"])

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
CancelAction = Literal["interrupt", "rollback"]


async def _service(request: Request, session: SessionDep, graphs: GraphsDep) -> RunService:
    return RunService(session, graphs, Authorizer(request))


ServiceDep = Annotated[RunService, Depends(_service)]


def _run_path(run: Run) -> str:
    return f"/threads/{run.thread_id}/runs/{run.run_id}"


async def _resume_after(reader: Readers, run_id: uuid.UUID, last_event_id: str | None) -> int:
    """The seq a join-stream continues after: the `Last-Event-ID` when it names an event of this run's
    log, else 0. An id the log never had (another server's, a mangled one) replays the whole log, as
    LangGraph's server continues from the start of what it retains instead of refusing."""
    value = (last_event_id or "").strip()
    if not value.isdecimal() or not 0 < int(value) < 2**31:
        return 0
    seq = int(value)
    return seq if await has_event(reader.pool, run_id, seq) else 0


def _stream_modes(values: list[str] | None) -> list[str] | None:
    """Query `stream_mode` values; the SDK sends an empty one for "all"."""
    modes = [v for v in values or [] if v]
    known = set(get_args(StreamMode))
    unknown = [m for m in modes if m not in known]
    if unknown:
        raise RequestValidationError(
            [{"type": "literal_error", "loc": ("query", "stream_mode"), "msg": f"unknown stream mode {unknown[0]!r}"}]
        )
    return modes or None


def _sse(
    reader: Readers,
    run: Run,
    caller: User,
    credential: Credential,
    *,
    after: int,
    modes: set[str] | None,
    cancel: bool,
):
    async def on_disconnect() -> None:
        async with reader.database.sessionmaker() as session, session.begin():
            try:
                await RunService(session, reader.graphs).cancel(caller, run.thread_id, run.run_id, "interrupt")
            except (RunNotFound, Conflict):
                pass  # finished or gone meanwhile

    stream = sse_events(reader.pool, reader.bus, run.run_id, after=after, modes=modes, heartbeat=reader.heartbeat)
    stream = reader.watch.guard(stream, credential, access_ended_event)
    return StreamingResponse(
        guarded(stream, on_disconnect if cancel else None),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, "Location": f"{_run_path(run)}/stream", "Content-Location": _run_path(run)},
    )


def _waiting(
    reader: Readers, thread_id: uuid.UUID, run_id: uuid.UUID, credential: Credential, *, missing: Any = None
) -> StreamingResponse:
    """A JSON body sent once the run ends; newlines keep the connection alive meanwhile (JSON allows
    leading whitespace). A client that loses it re-reads the outcome from `Location` (join).
    `missing`: the body when the run left no output or is gone."""

    async def body() -> AsyncIterator[bytes]:
        async for item in wait_outcome(reader.pool, reader.bus, run_id, heartbeat=reader.heartbeat):
            if isinstance(item, bytes):
                yield item
            elif item is None or item[1] is None:
                yield dumps(missing).encode()
            else:
                yield dumps(item[1]).encode()

    path = f"/threads/{thread_id}/runs/{run_id}"
    return StreamingResponse(
        reader.watch.guard(body(), credential, access_ended_body),
        media_type="application/json",
        headers={"Location": f"{path}/join", "Content-Location": path},
    )


# -- thread runs ---------------------------------------------------------------------------------


@router.post("/threads/{thread_id}/runs", response_model=RunRead, dependencies=[RunRateLimit])
async def create_run(
    thread_id: uuid.UUID, data: RunCreate, response: Response, user: CurrentUser, service: ServiceDep
) -> RunRead:
    """Start a background run; follow it with join, join-stream or GET."""
    run = await service.create(user, thread_id, data)
    response.headers["Content-Location"] = _run_path(run)
    return RunRead.model_validate(run)


@router.post("/threads/{thread_id}/runs/stream", response_class=StreamingResponse, dependencies=[RunRateLimit])
async def stream_run(
    thread_id: uuid.UUID,
    data: RunCreate,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    reader: ReadersDep,
) -> StreamingResponse:
    """Start a run and stream its events (SSE: `metadata` first, `end` last, resumable with
    `Last-Event-ID` at the `Location` given)."""
    run = await service.create(user, thread_id, data)
    await service.session.commit()
    return _sse(reader, run, user, credential, after=0, modes=None, cancel=data.on_disconnect == "cancel")


@router.post("/threads/{thread_id}/runs/wait", dependencies=[RunRateLimit])
async def wait_run(
    thread_id: uuid.UUID,
    data: RunCreate,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    reader: ReadersDep,
) -> StreamingResponse:
    """Start a run and answer with its final state values (`__error__` if it failed)."""
    run = await service.create(user, thread_id, data)
    await service.session.commit()
    return _waiting(reader, run.thread_id, run.run_id, credential)


@router.get("/threads/{thread_id}/runs", response_model=list[dict[str, Any]])
async def list_runs(
    thread_id: uuid.UUID,
    response: Response,
    user: CurrentUser,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    status: RunStatus | None = None,
    select: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> list[dict[str, Any]]:
    """The thread's runs, newest first."""
    allowed = set(RunRead.model_fields)
    if select and not set(select) <= allowed:
        raise BadRequest("Unknown field in select", detail={"allowed": sorted(allowed)})
    rows, more = await service.list(user, thread_id, RunListQuery(limit=limit, offset=offset, status=status))
    items = [RunRead.model_validate(row) for row in rows]
    return render_page(response, items, offset=offset, limit=limit, more=more, select=select)


@router.get("/threads/{thread_id}/runs/{run_id}", response_model=RunRead)
async def get_run(thread_id: uuid.UUID, run_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> RunRead:
    return RunRead.model_validate(await service.get(user, thread_id, run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_run(thread_id: uuid.UUID, run_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> Response:
    """Delete a finished run and its event log."""
    await service.delete(user, thread_id, run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: uuid.UUID,
    run_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    reader: ReadersDep,
    credential: CurrentCredential,
    wait: Annotated[bool, Query(description="answer once the run has stopped")] = False,
    action: CancelAction = "interrupt",
) -> Response:
    """Stop a run: `interrupt` keeps what it did, `rollback` deletes the run and its checkpoints. It
    reads `interrupted` at once. 202 with no body; with `wait`, 200 once it stopped, with what join
    answers (`{}` when it left no output, as after a rollback)."""
    await service.cancel(user, thread_id, run_id, action)
    await service.session.commit()
    if wait:
        return _waiting(reader, thread_id, run_id, credential, missing={})
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    thread_id: uuid.UUID,
    run_id: uuid.UUID,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    reader: ReadersDep,
) -> StreamingResponse:
    """Wait for the run to end; answers with the thread's final values."""
    run = await service.get(user, thread_id, run_id)
    return _waiting(reader, run.thread_id, run.run_id, credential)


@router.get("/threads/{thread_id}/runs/{run_id}/stream", response_class=StreamingResponse)
async def join_stream(
    thread_id: uuid.UUID,
    run_id: uuid.UUID,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    reader: ReadersDep,
    stream_mode: Annotated[list[str] | None, Query(max_length=20)] = None,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
) -> StreamingResponse:
    """The run's events from after `Last-Event-ID` (all of them without it), live until `end`."""
    run = await service.get(user, thread_id, run_id)
    after = await _resume_after(reader, run.run_id, last_event_id)
    modes = _stream_modes(stream_mode)
    return _sse(reader, run, user, credential, after=after, modes=mode_filter(modes), cancel=cancel_on_disconnect)


# -- stateless runs ------------------------------------------------------------------------------


@router.post("/runs", response_model=RunRead, dependencies=[RunRateLimit])
async def create_stateless_run(data: RunCreate, response: Response, user: CurrentUser, service: ServiceDep) -> RunRead:
    """A background run on a new thread of its own (deleted after the run unless `on_completion: keep`)."""
    run = await service.create(user, None, data)
    response.headers["Content-Location"] = _run_path(run)
    return RunRead.model_validate(run)


@router.post("/runs/stream", response_class=StreamingResponse, dependencies=[RunRateLimit])
async def stream_stateless_run(
    data: RunCreate, user: CurrentUser, credential: CurrentCredential, service: ServiceDep, reader: ReadersDep
) -> StreamingResponse:
    run = await service.create(user, None, data)
    await service.session.commit()
    return _sse(reader, run, user, credential, after=0, modes=None, cancel=data.on_disconnect == "cancel")


@router.post("/runs/wait", dependencies=[RunRateLimit])
async def wait_stateless_run(
    data: RunCreate, user: CurrentUser, credential: CurrentCredential, service: ServiceDep, reader: ReadersDep
) -> StreamingResponse:
    run = await service.create(user, None, data)
    await service.session.commit()
    return _waiting(reader, run.thread_id, run.run_id, credential)


@router.post("/runs/batch", response_model=list[RunRead])
async def create_run_batch(
    data: Annotated[list[RunCreate], ...],
    user: CurrentUser,
    service: ServiceDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> list[RunRead]:
    """Several stateless background runs at once (all or none are created)."""
    if len(data) > 100:
        raise BadRequest("At most 100 runs per batch", detail={"count": len(data)})
    await check_run_rate(limiter, settings.sessions, user, cost=max(1, len(data)))
    return [RunRead.model_validate(await service.create(user, None, item)) for item in data]


@router.post("/runs/cancel", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_runs(
    data: RunCancelMany, user: CurrentUser, service: ServiceDep, action: CancelAction = "interrupt"
) -> Response:
    """Cancel many runs: by thread, by ids, or every pending / running run of yours."""
    if data.thread_id is None and not data.run_ids and data.status is None:
        raise BadRequest("Name a thread_id, run_ids or a status")
    await service.cancel_many(user, data, action)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

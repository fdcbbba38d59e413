"""`/api/v1/sessions`: the seeds' client surface (sessions, execute, messages) over threads and runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from loopdesk.auth.credentials import Credential
from loopdesk.auth.deps import CurrentCredential, CurrentUser
from loopdesk.core.deps import RateLimiterDep
from loopdesk.core.errors import BadRequest, Conflict, error_body
from loopdesk.core.schemas import Page
from loopdesk.realtime.follower import NOTHING_SKIPPED, Position, RunRow, position_after, position_now
from loopdesk.realtime.frames import parse_event_id
from loopdesk.runtime.deps import Readers, ReadersDep
from loopdesk.runtime.runs.events import dumps, last_seq
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import TERMINAL
from loopdesk.runtime.runs.streaming import access_ended_body, wait_outcome
from loopdesk.sessions.attachment_endpoints import router as attachments_router
from loopdesk.sessions.deps import NOT_FOUND, ServiceDep, error_response
from loopdesk.sessions.schemas import (
    ExecuteIn,
    ExecuteResult,
    MessagePage,
    SessionCreate,
    SessionPatch,
    SessionQuery,
    SessionRead,
)
from loopdesk.sessions.service import SessionService, page
from loopdesk.sessions.stream import access_ended, session_events
from loopdesk.users.models import User

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])
router.include_router(attachments_router)

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _stream_path(session_id: uuid.UUID) -> str:
    return f"/api/v1/sessions/{session_id}/stream"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionRead)
async def create_session(data: SessionCreate, user: CurrentUser, service: ServiceDep) -> SessionRead:
    """Start a conversation with an assistant (default: the general `agent`). Customers' sessions expire
    after LOOPDESK_SESSION_TTL_MINUTES without activity."""
    return (await service.create(user, data)).read()


@router.get("", response_model=Page[SessionRead])
async def list_sessions(
    user: CurrentUser, service: ServiceDep, query: Annotated[SessionQuery, Query()]
) -> Page[SessionRead]:
    """Your sessions, latest activity first. Staff and admins see everyone's and may filter by `user_id`."""
    views, total = await service.list(user, query)
    return Page[SessionRead](items=[v.read() for v in views], total=total, limit=query.limit, offset=query.offset)


@router.get("/{session_id}", response_model=SessionRead, responses=NOT_FOUND)
async def get_session(session_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> SessionRead:
    return (await service.get(user, session_id)).read()


@router.patch("/{session_id}", response_model=SessionRead, responses=NOT_FOUND)
async def update_session(
    session_id: uuid.UUID, data: SessionPatch, user: CurrentUser, service: ServiceDep
) -> SessionRead:
    """Change the title, or merge keys into the metadata."""
    return (await service.patch(user, session_id, data)).read()


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_session(session_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> Response:
    """Delete the session with its thread, checkpoints, runs, tool calls and approvals (pending ones are
    rejected first); the audit trail stays."""
    await service.delete(user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{session_id}/execute",
    response_model=ExecuteResult,
    responses={
        200: {
            "description": "The run's outcome (JSON); with `stream` or `Accept: text/event-stream`, Server-Sent "
            "Events named like the WebSocket frames (token, tool_call, tool_result, interrupt, "
            "message_complete, error), resumable at `Location` with `Last-Event-ID`.",
            "content": {"text/event-stream": {}},
        },
        404: error_response(
            "session_not_found",
            "Session not found (or not yours); `attachment_not_found`: an id of "
            "`attachments` is not a file you uploaded to this session",
        ),
        409: error_response("session_interrupted", "Waiting for a decision, or its assistant is gone"),
        410: error_response("session_expired", "The session expired: start a new one"),
        422: error_response("invalid_message", "The message is empty or too long"),
        429: error_response("rate_limited", "Too many runs: wait `Retry-After` seconds"),
    },
)
async def execute(
    session_id: uuid.UUID,
    data: ExecuteIn,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    readers: ReadersDep,
    limiter: RateLimiterDep,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> Response:
    """Run the session's assistant on a message (queued behind a run in progress). Without streaming the
    answer comes when the run ends or stops for an approval (`status: interrupted`, with
    `pending_approvals`; `POST /api/v1/approvals/{id}/approve` continues it). Blank lines keep the
    connection alive meanwhile. A repeated `Idempotency-Key` answers with the first run's outcome."""
    run, _ = await service.execute(
        user,
        session_id,
        data.message,
        limiter=limiter,
        idempotency_key=idempotency_key,
        metadata=data.metadata,
        attachments=data.attachments,
    )
    await service.session.commit()
    headers = {
        "Location": f"{_stream_path(session_id)}?run_id={run.run_id}",
        "Content-Location": f"/threads/{session_id}/runs/{run.run_id}",
    }
    if data.stream or "text/event-stream" in (accept or ""):
        row = RunRow(run.run_id, run.seq, run.owner_id, (run.kwargs or {}).get("input"))
        start = Position(tail=run.seq - 1, run=row, skip=NOTHING_SKIPPED)
        return _events(readers, credential, session_id, start, until_run=run.run_id, headers=headers)
    outcome = readers.watch.guard(_outcome(readers, user, session_id, run.run_id), credential, access_ended_body)
    return StreamingResponse(outcome, media_type="application/json", headers=headers)


async def _outcome(readers: Readers, user: User, session_id: uuid.UUID, run_id: uuid.UUID) -> AsyncIterator[bytes]:
    async for item in wait_outcome(readers.pool, readers.bus, run_id, heartbeat=readers.heartbeat):
        if isinstance(item, bytes):
            yield item
    async with readers.database.sessionmaker() as session:
        service = SessionService(session, readers.graphs, readers.persistence, readers.settings)
        run = await session.get(Run, run_id)
        if run is None:  # the session was deleted meanwhile
            yield dumps(error_body("session_not_found", "The session was deleted during the run")).encode()
            return
        result = await service.result(user, session_id, run)
    yield result.model_dump_json().encode()


def _events(
    readers: Readers,
    credential: Credential,
    session_id: uuid.UUID,
    start: Position,
    *,
    until_run: uuid.UUID | None,
    follow: bool = False,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    stream = session_events(
        readers.pool,
        readers.bus,
        session_id,
        start,
        heartbeat=readers.heartbeat,
        capacity=readers.settings.realtime.ws_buffer_events,
        until_run=until_run,
        follow=follow,
    )
    stream = readers.watch.guard(stream, credential, access_ended)
    return StreamingResponse(stream, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})


@router.get(
    "/{session_id}/stream",
    response_class=StreamingResponse,
    responses={**NOT_FOUND, 409: error_response("event_not_found", "That event is no longer on the session")},
)
async def stream_session(
    session_id: uuid.UUID,
    user: CurrentUser,
    credential: CurrentCredential,
    service: ServiceDep,
    readers: ReadersDep,
    run_id: Annotated[uuid.UUID | None, Query(description="a run of the session, from its first frame")] = None,
    follow: Annotated[bool, Query(description="keep following later runs instead of ending with the run")] = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)] = None,
) -> StreamingResponse:
    """The session's frames as SSE: after `Last-Event-ID` (resuming a dropped execute stream exactly
    where it broke off), from the start of `run_id`, or from now on. Ends with the run's
    `message_complete` unless `follow`."""
    await service.get(user, session_id)
    pool = readers.pool
    if last_event_id:
        parsed = parse_event_id(last_event_id)
        resumed = _uuid(parsed[0]) if parsed else None
        if parsed is None or resumed is None:
            raise BadRequest("Last-Event-ID is not a frame id (`<run_id>:<seq>:<n>`)", detail={"id": last_event_id})
        start = await position_after(pool, session_id, resumed, parsed[1], parsed[2])
        if start is None:
            raise Conflict("That event is no longer on the session", detail={"last_event_id": last_event_id})
        run = await service.session.get(Run, resumed)
        if not follow and run is not None and run.status in TERMINAL and parsed[1] >= await last_seq(pool, resumed):
            start = None  # the client has the run's last frame: nothing more to send
        return _events(readers, credential, session_id, start, until_run=resumed, follow=follow) if start else _empty()
    if run_id is not None:
        run = await service.session.get(Run, run_id)
        if run is None or run.thread_id != session_id:
            raise BadRequest("No such run on this session", detail={"run_id": str(run_id)})
        row = RunRow(run.run_id, run.seq, run.owner_id, (run.kwargs or {}).get("input"))
        start = Position(tail=run.seq - 1, run=row)
        return _events(readers, credential, session_id, start, until_run=run_id, follow=follow)
    start = await position_now(pool, session_id)
    return _events(readers, credential, session_id, start, until_run=None, follow=follow)


def _empty() -> StreamingResponse:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    return StreamingResponse(nothing(), media_type="text/event-stream", headers=SSE_HEADERS)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@router.get("/{session_id}/messages", response_model=MessagePage, responses=NOT_FOUND)
async def list_messages(
    session_id: uuid.UUID,
    user: CurrentUser,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> MessagePage:
    """The conversation, oldest first: role (user, assistant, tool, system), content, tool calls and
    when each message was recorded. A message accepted while a run is ahead of it is `pending`."""
    items = await service.messages(user, session_id)
    return MessagePage(items=page(items, limit, offset), total=len(items), limit=limit, offset=offset)


@router.delete(
    "/{session_id}/messages",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 409: error_response("session_busy", "A run is in progress")},
)
async def clear_messages(session_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> Response:
    """Clear the conversation: the session's thread starts afresh (its checkpoints are deleted) and a
    pending approval is rejected. What stays: long-term memory (what the assistant remembered about
    you, in the store), the runs' records, tool calls, approvals and the audit trail."""
    await service.clear(user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

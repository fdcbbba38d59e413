"""Agent Protocol, thread-centric streaming (`client.threads.stream`): `POST /threads/{id}/commands`
starts or resumes runs through the usual run creation; `POST /threads/{id}/stream/events` follows the
thread's runs in creation order, from the durable event log, as protocol events.

A stream replays the thread's history (after `since`, or `Last-Event-ID`) and then stays open for the
runs still to come, like the reference server's: the SDK keeps one connection for a whole session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from loopdesk.auth.deps import CurrentCredential, CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep, PersistenceDep, ReadersDep
from loopdesk.runtime.runs.endpoints import SSE_HEADERS
from loopdesk.runtime.runs.events import EventBus, dumps, fetch, thread_key, wait_for
from loopdesk.runtime.runs.limits import RunRateLimit
from loopdesk.runtime.runs.schemas import Command, MultitaskStrategy, RunCreate
from loopdesk.runtime.runs.service import RunService
from loopdesk.runtime.runs.streaming import access_ended_event, log_events, run_outcome
from loopdesk.runtime.threads.protocol import (
    RUN_STREAM_MODES,
    EventStreamRequest,
    ProtocolCommand,
    RunRef,
    RunTranslator,
    first_run,
    wanted,
)
from loopdesk.runtime.threads.service import ThreadNotFound, ThreadService
from loopdesk.users.models import User

router = APIRouter(prefix="/threads/{thread_id}", tags=["threads"])

HEARTBEAT = b": heartbeat\n\n"
_NEXT_RUN = (
    "SELECT run_id, seq, kwargs->>'graph_id' AS graph_id FROM runs"
    " WHERE thread_id = %s AND seq > %s ORDER BY seq LIMIT 1"
)
_THREAD = "SELECT 1 AS one FROM threads WHERE thread_id = %s"
# Known to the protocol, but meaningful only on a connection bound to a run (the WebSocket transport).
_SESSION_COMMANDS = {"subscription.subscribe", "subscription.unsubscribe", "subscription.reconnect", "agent.getTree"}


async def _threads(
    request: Request, session: SessionDep, graphs: GraphsDep, persistence: PersistenceDep
) -> ThreadService:
    return ThreadService(session, graphs, persistence, Authorizer(request))


async def _runs(request: Request, session: SessionDep, graphs: GraphsDep) -> RunService:
    return RunService(session, graphs, Authorizer(request))


ThreadServiceDep = Annotated[ThreadService, Depends(_threads)]
RunServiceDep = Annotated[RunService, Depends(_runs)]


# -- events ----------------------------------------------------------------------------------------


def _resume_point(since: int | None, last_event_id: str | None) -> int:
    """`since` (the SDK's cursor, in the body) or else the `Last-Event-ID` header: an event's seq."""
    if since is not None:
        return since
    if last_event_id and last_event_id.isdigit() and int(last_event_id) < 2**53:
        return int(last_event_id)
    return 0


async def _run_events(
    pool: AsyncConnectionPool, bus: EventBus, run: RunRef, request: EventStreamRequest, since: int, heartbeat: float
) -> AsyncIterator[bytes]:
    translator = RunTranslator(run)
    async for event in log_events(pool, bus, run.run_id, heartbeat=heartbeat):
        if event is None:
            yield HEARTBEAT
            continue
        if event.seq == 0:  # rolled back while we read it: it never happened
            return
        status = None
        if event.event == "end":
            outcome = await run_outcome(pool, run.run_id)
            status = outcome[0] if outcome else None
        for item in translator.translate(event, status):
            if item["seq"] > since and wanted(item, request):
                yield f"event: {item['method']}\ndata: {dumps(item)}\nid: {item['seq']}\n\n".encode()


async def thread_events(
    pool: AsyncConnectionPool,
    bus: EventBus,
    thread_id: uuid.UUID,
    request: EventStreamRequest,
    *,
    since: int,
    heartbeat: float,
) -> AsyncIterator[bytes]:
    """The thread's runs one after another (by creation), each from the log, then live; ends when the
    thread is deleted."""
    tail = max(first_run(since) - 1, 0)
    async with bus.subscribe(thread_key(thread_id)) as waiter:
        while True:
            waiter.clear()  # before the read: a run created after it wakes us
            rows = await fetch(pool, _NEXT_RUN, (thread_id, tail))
            if rows:
                run = RunRef(rows[0]["run_id"], int(rows[0]["seq"]), rows[0]["graph_id"] or "")
                async for chunk in _run_events(pool, bus, run, request, since, heartbeat):
                    yield chunk
                tail = run.seq
                continue
            if not await fetch(pool, _THREAD, (thread_id,)):
                return
            if not await wait_for(waiter, heartbeat):
                yield HEARTBEAT


@router.post("/stream/events", response_class=StreamingResponse)
async def stream_thread_events(
    thread_id: uuid.UUID,
    body: EventStreamRequest,
    user: CurrentUser,
    credential: CurrentCredential,
    threads: ThreadServiceDep,
    reader: ReadersDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
) -> StreamingResponse:
    """Protocol events of the thread's runs on `channels` (and `namespaces` / `depth`), after `since`
    (or `Last-Event-ID`); open until the client leaves."""
    await threads.get(user, thread_id)
    await threads.session.commit()  # the stream outlives the request's transaction
    since = _resume_point(body.since, last_event_id)
    stream = thread_events(reader.pool, reader.bus, thread_id, body, since=since, heartbeat=reader.heartbeat)
    return StreamingResponse(
        reader.watch.guard(stream, credential, access_ended_event), media_type="text/event-stream", headers=SSE_HEADERS
    )


# -- commands --------------------------------------------------------------------------------------


def _success(command: ProtocolCommand, result: dict[str, Any]) -> dict[str, Any]:
    # Positions come from the log, not from this exchange: nothing is "applied through" a seq here.
    return {"type": "success", "id": command.id, "result": result, "meta": {"applied_through_seq": 0}}


def _failure(command: ProtocolCommand, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command.id, "error": code, "message": message}


def _strategy(value: Any) -> MultitaskStrategy:
    return value if value in get_args(MultitaskStrategy) else "enqueue"


def _run_create(assistant_id: str, params: dict[str, Any], **fields: Any) -> RunCreate:
    return RunCreate(
        assistant_id=assistant_id,
        config=params.get("config"),
        metadata=params.get("metadata"),
        stream_mode=RUN_STREAM_MODES,
        stream_subgraphs=True,
        if_not_exists="create",
        on_completion="keep",
        multitask_strategy=_strategy(params.get("multitaskStrategy")),
        **fields,
    )


async def _readable(threads: ThreadService, user: User, thread_id: uuid.UUID):
    try:
        return await threads.get(user, thread_id)
    except ThreadNotFound:
        return None  # not there yet (run.start creates it) or not the caller's (run creation answers 404)


async def _run_start(
    command: ProtocolCommand, thread_id: uuid.UUID, user: User, threads: ThreadService, runs: RunService
) -> dict[str, Any]:
    params = command.params
    assistant_id = params.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        return _failure(command, "invalid_argument", "run.start requires an assistant_id.")
    thread = await _readable(threads, user, thread_id)
    value = params.get("input")
    resume = value is not None and thread is not None and thread.status == "interrupted"
    try:
        data = _run_create(
            assistant_id, params, input=None if resume else value, command=Command(resume=value) if resume else None
        )
    except ValidationError as exc:
        return _failure(command, "invalid_argument", str(exc.errors(include_url=False, include_context=False)))
    run = await runs.create(user, thread_id, data)
    return _success(command, {"run_id": str(run.run_id)})


# How long `input.respond` waits for a busy thread to record the interrupts it answers (the client may have seen
# `input.requested` on the stream before the run's end was committed), as LangGraph's server waits.
SETTLE_SECONDS = 10.0


async def _unknown_interrupts(threads: ThreadService, thread: Any, resume: dict[str, Any]) -> list[str]:
    """The answered interrupt ids the thread does not hold, after it stopped being busy (or the wait ran out)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while True:
        pending = {i.get("id") for group in (thread.interrupts or {}).values() for i in group if isinstance(i, dict)}
        unknown = [key for key in resume if key not in pending]
        if not unknown or thread.status != "busy" or asyncio.get_running_loop().time() >= deadline:
            return unknown
        await asyncio.sleep(0.05)
        await threads.session.refresh(thread)


def _responses(params: dict[str, Any]) -> dict[str, Any] | None:
    """`{interrupt_id: response}` from `input.respond`'s one response or `responses` batch."""
    entries = params.get("responses") if isinstance(params.get("responses"), list) else [params]
    resume: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
            return None
        resume[entry["interrupt_id"]] = entry.get("response")
    return resume or None


async def _input_respond(
    command: ProtocolCommand, thread_id: uuid.UUID, user: User, threads: ThreadService, runs: RunService
) -> dict[str, Any]:
    params = command.params
    resume = _responses(params)
    if resume is None:
        return _failure(command, "invalid_argument", "input.respond requires an interrupt_id (or responses).")
    thread = await threads.get(user, thread_id)
    unknown = await _unknown_interrupts(threads, thread, resume)
    if unknown:
        return _failure(command, "no_such_interrupt", f"Unknown or already-consumed interrupt: {unknown[0]}")
    assistant_id = thread.metadata_.get("assistant_id")
    if not isinstance(assistant_id, str):
        return _failure(command, "no_such_run", "No interrupted run is bound to this thread.")
    try:
        data = _run_create(
            assistant_id, params, command=Command(resume=resume, update=params.get("update"), goto=params.get("goto"))
        )
    except ValidationError as exc:
        return _failure(command, "invalid_argument", str(exc.errors(include_url=False, include_context=False)))
    await runs.create(user, thread_id, data)
    return _success(command, {})


@router.post("/commands", dependencies=[RunRateLimit])
async def thread_command(
    thread_id: uuid.UUID, command: ProtocolCommand, user: CurrentUser, threads: ThreadServiceDep, runs: RunServiceDep
) -> dict[str, Any]:
    """One protocol command: `run.start` (a new run, or the resume of an interrupted thread) or
    `input.respond` (answer interrupts by id). Command failures answer 200 with the protocol's
    `{"type": "error"}`; a thread that is not yours is 404 as everywhere."""
    if command.method == "run.start":
        return await _run_start(command, thread_id, user, threads, runs)
    if command.method == "input.respond":
        return await _input_respond(command, thread_id, user, threads, runs)
    if command.method in _SESSION_COMMANDS:
        return _failure(command, "no_such_run", "No active run is bound to this connection.")
    return _failure(command, "unknown_command", f"Unknown protocol command: {command.method}")

"""The WebSocket gateway, `/ws`: one socket per device for chat messages, approvals and live events.

A connection authenticates once (`?token=` JWT or API key, the headers, or the console cookie), then
exchanges JSON frames (protocol.py). Its credential is re-checked before each frame that reads or
starts something, and every few seconds (auth/watch.py): once revoked or expired, the socket closes
with 4401 and the reason. Each subscribed thread has a follower task (follower.py) that
reads the durable event log, so what a socket receives does not depend on which API process it
landed on. Nothing a client sends ends the connection: bad frames get an `error` frame."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import structlog
from fastapi import APIRouter, WebSocket
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.websockets import WebSocketState

from loopdesk.auth.credentials import Credential, CredentialRevoked, CredentialService
from loopdesk.auth.deps import CurrentUser
from loopdesk.auth.watch import CredentialWatch, Revocation
from loopdesk.auth.websocket import CrossSiteWebSocket, authenticate_websocket
from loopdesk.core.errors import LoopdeskError, RateLimited
from loopdesk.core.metrics import WS_CONNECTIONS, WS_ERRORS, WS_FRAMES
from loopdesk.core.ratelimit import rate
from loopdesk.core.settings import RealtimeSettings
from loopdesk.feedback.repository import TaskRepository
from loopdesk.realtime.follower import Position, ThreadFollower, position_after, position_now
from loopdesk.realtime.frames import parse_event_id
from loopdesk.realtime.protocol import (
    CLIENT_TYPES,
    InterruptResponseIn,
    MessageIn,
    PingIn,
    ResumeIn,
    SubmitFeedbackIn,
    SubscribeIn,
    SubscribeTaskIn,
    client_frames,
)
from loopdesk.realtime.task_follower import TaskFollower, UserFollower
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.runs.limits import check_run_rate
from loopdesk.runtime.runs.schemas import Command
from loopdesk.runtime.runs.service import RunService
from loopdesk.runtime.threads.models import Thread
from loopdesk.runtime.threads.schemas import ThreadCreate
from loopdesk.runtime.threads.service import ThreadService
from loopdesk.sessions.attachments import SessionAttachmentService, human_message
from loopdesk.sessions.service import name_after_message
from loopdesk.tools.approvals.schemas import Decision as ApprovalDecision
from loopdesk.tools.approvals.service import ApprovalService
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.realtime")

router = APIRouter(tags=["realtime"])

SCHEMA_PATH = Path(__file__).with_name("protocol.schema.json")
# What a chat run records: tokens, node updates (tool calls and results, interrupts) and custom events,
# from subgraphs too (the agents of a multi-agent graph).

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_GOING_AWAY = 1001


def websocket_options(settings: RealtimeSettings) -> dict[str, Any]:
    """uvicorn's WebSocket settings: protocol pings (dead peers dropped after the timeout), and a
    transport limit above the protocol's so that an oversized frame gets an `error`, not a close."""
    return {
        "ws": "websockets-sansio",
        "ws_max_size": max(4 * settings.ws_max_frame_bytes, 1024 * 1024),
        "ws_ping_interval": settings.ws_ping_seconds,
        "ws_ping_timeout": settings.ws_ping_timeout_seconds,
        "ws_per_message_deflate": False,  # tokens are small; deflate would cost ~100 KiB per connection
    }


class FrameError(LoopdeskError):
    status_code = 400

    def __init__(self, code: str, message: str, detail: Any = None):
        self.code = code
        super().__init__(message, detail=detail)


class Gateway:
    """The process's open connections and the realtime settings."""

    def __init__(self, settings: RealtimeSettings):
        self.settings = settings
        self.message_rate = rate(settings.ws_message_rate)
        self.connections: set[Connection] = set()

    async def close_all(self) -> None:
        for connection in list(self.connections):
            await connection.close(CLOSE_GOING_AWAY, "server shutting down")


@router.get("/api/v1/realtime/schema", summary="The WebSocket protocol as JSON Schema")
async def protocol_schema(user: CurrentUser) -> Response:
    """JSON Schema (2020-12) of every frame of `/ws`: `$defs.ClientFrame` and `$defs.ServerFrame`."""
    return Response(SCHEMA_PATH.read_bytes(), media_type="application/schema+json")


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """`/ws?token=<jwt or api key>` (or `Authorization` / `X-API-Key` headers, or the console cookie)."""
    await websocket.accept()
    try:
        caller = await authenticate_websocket(websocket)
    except CrossSiteWebSocket:
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "cross-site WebSocket refused")
        return
    if caller is None:
        await websocket.close(CLOSE_UNAUTHENTICATED, "not authenticated")
        return
    await Connection(websocket, *caller).serve()


class Connection:
    def __init__(self, websocket: WebSocket, user: User, credential: Credential):
        self.ws = websocket
        self.user = user
        self.credential = credential
        state = websocket.app.state
        self.state = state
        self.gateway: Gateway = state.realtime
        self.settings: RealtimeSettings = self.gateway.settings
        self.followers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.task_followers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.following_tasks: set[str] = set()  # what the user follower leaves to the task followers
        self._send_lock = asyncio.Lock()
        self._local = 0
        self.frames_sent = 0
        self._log = log.bind(user_id=str(user.id))

    # -- sending -----------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        data = orjson.dumps(frame).decode()
        async with self._send_lock:
            await self.ws.send_text(data)
            self.frames_sent += 1

    async def reply(self, frame: dict[str, Any]) -> None:
        """A frame about the connection itself (ack, pong, error): a connection-local event id."""
        self._local += 1
        await self.send({"event_id": f"~{self._local}", **frame})

    async def error(self, code: str, message: str, *, ref: str | None = None, **extra: Any) -> None:
        WS_ERRORS.labels(code).inc()
        await self.reply({"type": "error", "code": code, "message": message, "ref": ref, **extra})

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if self.ws.client_state == WebSocketState.CONNECTED:
                await self.ws.close(code, reason)

    async def _close_when_revoked(self, revocation: Revocation) -> None:
        """A socket lives no longer than its credential (expiry included): the client reconnects with a
        fresh one."""
        reason = await revocation.wait()
        self._log.info("realtime.access_ended", reason=reason)
        await self.close(CLOSE_UNAUTHENTICATED, reason)

    # -- receiving ---------------------------------------------------------------------------------

    async def serve(self) -> None:
        self.gateway.connections.add(self)
        WS_CONNECTIONS.inc()
        self._log.debug("realtime.connected")
        watch: CredentialWatch = self.state.credential_watch
        with watch.watching(self.credential) as revocation:
            closer = asyncio.create_task(self._close_when_revoked(revocation))
            notifications = asyncio.create_task(self._guarded(self._user_follower().run(), "notifications"))
            try:
                while True:
                    message = await self.ws.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    await self._handle(message)
            except Exception as exc:  # noqa: BLE001 - the socket broke (closed mid-send and the like)
                self._log.debug("realtime.connection_lost", error=type(exc).__name__)
            finally:
                closer.cancel()
                notifications.cancel()
                for task in [*self.followers.values(), *self.task_followers.values()]:
                    task.cancel()
                self.followers.clear()
                self.task_followers.clear()
                self.gateway.connections.discard(self)
                WS_CONNECTIONS.dec()
                self._log.debug("realtime.disconnected")

    async def _handle(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is None:
            await self.error("binary_not_supported", "Frames must be JSON text")
            return
        if len(text) > self.settings.ws_max_frame_bytes or len(text.encode()) > self.settings.ws_max_frame_bytes:
            await self.error(
                "frame_too_large",
                f"Frames may be at most {self.settings.ws_max_frame_bytes} bytes",
                detail={"limit": self.settings.ws_max_frame_bytes},
            )
            return
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            await self.error("malformed_json", f"The frame is not valid JSON: {exc}")
            return
        if not isinstance(data, dict):
            await self.error("invalid_frame", "A frame must be a JSON object with a `type`")
            return
        ref = data.get("id") if isinstance(data.get("id"), str) else None
        kind = data.get("type")
        if kind not in CLIENT_TYPES:
            await self.error(
                "unknown_type",
                f"Unknown frame type {kind!r}" if kind is not None else "The frame has no `type`",
                ref=ref,
                detail={"known": list(CLIENT_TYPES)},
            )
            return
        WS_FRAMES.labels(kind).inc()
        try:
            frame = client_frames.validate_python(data)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"][1:]) or None, "message": e["msg"]} for e in exc.errors()
            ]
            summary = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
            await self.error("invalid_frame", f"Invalid {kind} frame: {summary}", ref=ref, detail=problems)
            return
        try:
            await self._dispatch(frame)
        except CredentialRevoked as exc:
            await self.error(exc.code, exc.message, ref=ref, detail=exc.detail)
            await self.close(CLOSE_UNAUTHENTICATED, exc.reason)
        except LoopdeskError as exc:
            thread_id = getattr(frame, "thread_id", None)
            extra = {"retry_after": exc.detail["retry_after"]} if isinstance(exc, RateLimited) else {}
            await self.error(
                exc.code,
                exc.message,
                ref=ref,
                detail=exc.detail,
                thread_id=str(thread_id) if thread_id else None,
                **extra,
            )
        except (OperationalError, psycopg.OperationalError) as exc:  # out of connections, or the database is down
            self._log.warning("realtime.database_unavailable", frame_type=kind, error=type(exc).__name__)
            await self.error("unavailable", "The database is busy or unreachable: retry shortly", ref=ref)
        except Exception:  # noqa: BLE001 - one frame's failure must not end the connection
            self._log.exception("realtime.frame_failed", frame_type=kind)
            await self.error("internal_error", "The server could not handle this frame", ref=ref)

    async def _dispatch(self, frame: Any) -> None:
        match frame:
            case MessageIn():
                await self._message(frame)
            case InterruptResponseIn():
                await self._interrupt_response(frame)
            case SubscribeIn(type="subscribe", thread_id=uuid.UUID() as thread_id):
                await self._subscribe(frame.id, thread_id)
            case SubscribeIn(type="unsubscribe", thread_id=uuid.UUID() as thread_id):
                task = self.followers.pop(thread_id, None)
                if task is not None:
                    task.cancel()
                await self.reply({"type": "ack", "of": "unsubscribe", "ref": frame.id, "thread_id": str(thread_id)})
            case SubscribeIn(type="subscribe", task_id=uuid.UUID() as task_id) | SubscribeTaskIn(task_id=task_id):
                await self._subscribe_task(frame.id, task_id)
            case SubscribeIn(type="unsubscribe", task_id=uuid.UUID() as task_id):
                task = self.task_followers.pop(task_id, None)
                self.following_tasks.discard(str(task_id))
                if task is not None:
                    task.cancel()
                await self.reply({"type": "ack", "of": "unsubscribe", "ref": frame.id, "task_id": str(task_id)})
            case SubmitFeedbackIn():
                await self._submit_feedback(frame)
            case ResumeIn():
                await self._resume(frame)
            case PingIn():
                await self.reply({"type": "pong", "ref": frame.id})

    # -- handlers ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[ThreadService, RunService]]:
        """The thread and run services in one transaction, with the connection's `@auth.on` gate; a
        credential revoked since the last periodic check reads and starts nothing."""
        authz = Authorizer(self.ws)  # type: ignore[arg-type]
        graphs = self.state.graphs
        async with self.state.database.sessionmaker() as session, session.begin():
            await CredentialService(session).ensure_live(self.credential)
            yield ThreadService(session, graphs, self.state.persistence, authz), RunService(session, graphs, authz)

    async def _chat_run(self, runs: RunService, thread: Thread, assistant_id: str | None, **fields: Any) -> _Started:
        """A run on the thread recording what chat frames are made of, queued behind an active one; the
        position to follow it from is taken first when this socket does not follow the thread yet."""
        position = None
        if thread.thread_id not in self.followers:
            position = await position_now(self.state.persistence.pool, thread.thread_id)
        assistant_id = (
            assistant_id or thread.metadata_.get("assistant_id") or self.state.settings.runtime.default_assistant
        )
        run = await runs.start_chat_turn(self.user, thread.thread_id, assistant_id=assistant_id, **fields)
        return _Started(thread.thread_id, run.run_id, position)

    async def _acknowledge(self, of: str, ref: str | None, started: _Started) -> None:
        """After the commit: follow the thread if needed, then ack with the run's id."""
        if started.position is not None:
            self._follow(started.thread_id, started.position)
        await self.reply(
            {
                "type": "ack",
                "of": of,
                "ref": ref,
                "thread_id": str(started.thread_id),
                "run_id": str(started.run_id) if started.run_id else None,
            }
        )

    async def _message(self, frame: MessageIn) -> None:
        limit = self.settings.ws_max_content_chars
        if len(frame.content) > limit:
            raise FrameError(
                "content_too_long", f"`content` may be at most {limit} characters", detail={"limit": limit}
            )
        self._check_room(frame.thread_id)  # the reply streams to this socket: before anything is created
        key = str(frame.thread_id) if frame.thread_id else f"user:{self.user.id}"
        await self.state.rate_limiter.check(self.gateway.message_rate, "ws-message", key)
        await check_run_rate(self.state.rate_limiter, self.state.settings.sessions, self.user)
        async with self._transaction() as (threads, runs):
            if frame.thread_id is not None:
                thread = await threads.get(self.user, frame.thread_id)
            else:
                thread = await threads.create(self.user, ThreadCreate())
            attachments = SessionAttachmentService(runs.session, settings=self.state.settings.attachments)
            files = await attachments.for_message(self.user, thread.thread_id, frame.attachments)
            message = {"messages": [human_message(frame.content, files)]}
            started = await self._chat_run(runs, thread, frame.assistant_id, input=message)
            await name_after_message(runs.session, thread.thread_id, frame.content)
        await self._acknowledge("message", frame.id, started)

    async def _interrupt_response(self, frame: InterruptResponseIn) -> None:
        decision = frame.resolved()
        self._check_room(frame.thread_id)
        async with self._transaction() as (threads, runs):
            thread = await threads.get(self.user, frame.thread_id)
            interrupt_id, pending = _pending_interrupt(thread, frame.interrupt_id)
            approval_id = pending.get("approval_id") if isinstance(pending, dict) else None
            if approval_id is not None:  # a tool approval: decided and audited like one made over REST
                checked = ApprovalDecision(type=decision.type, message=decision.message, args=decision.args)
                started = await self._decide_approval(runs, thread, approval_id, checked)
            else:
                value = decision.to_resume(pending)
                command = Command(resume={interrupt_id: value} if interrupt_id else value)
                started = await self._chat_run(runs, thread, None, command=command)
        await self._acknowledge("interrupt_response", frame.id, started)

    async def _decide_approval(
        self, runs: RunService, thread: Thread, approval_id: str, decision: ApprovalDecision
    ) -> _Started:
        position = None
        if thread.thread_id not in self.followers:
            position = await position_now(self.state.persistence.pool, thread.thread_id)
        service = ApprovalService(runs.session, self.state.graphs, self.state.tools.registry)
        try:
            _, run_id = await service.decide(self.user, uuid.UUID(approval_id), decision, via="ws")
        except LoopdeskError as exc:
            raise FrameError(exc.code, exc.message, detail=exc.detail) from None
        return _Started(thread.thread_id, run_id, position)

    async def _subscribe(self, ref: str | None, thread_id: uuid.UUID) -> None:
        async with self._transaction() as (threads, _):
            await threads.get(self.user, thread_id)
        if thread_id not in self.followers:
            self._follow(thread_id, await position_now(self.state.persistence.pool, thread_id))
        await self.reply({"type": "ack", "of": "subscribe", "ref": ref, "thread_id": str(thread_id)})

    async def _subscribe_task(self, ref: str | None, task_id: uuid.UUID, *, acknowledge: bool = True) -> None:
        """Follow a feedback task's timeline from now on (its reporters and staff; joiners: stages only)."""
        async with self.state.database.sessionmaker() as session, session.begin():
            await CredentialService(session).ensure_live(self.credential)
            task = await TaskRepository(session).get_readable(self.user, str(task_id))
            if task is None:
                raise FrameError("task_not_found", "No feedback task with this id", detail={"task_id": str(task_id)})
            whole = self.user.is_staff or task.reporter_id == self.user.id
        if task_id not in self.task_followers:
            if len(self.task_followers) >= self.settings.ws_max_subscriptions:
                raise FrameError(
                    "too_many_subscriptions",
                    f"A connection may follow at most {self.settings.ws_max_subscriptions} tasks: unsubscribe first",
                    detail={"limit": self.settings.ws_max_subscriptions},
                )
            follower = TaskFollower(
                self.state.persistence.pool,
                self.state.event_bus,
                task_id,
                self.send,
                stages_only=not whole,
                show_actor=self.user.is_staff,
            )
            self.following_tasks.add(str(task_id))
            self.task_followers[task_id] = asyncio.create_task(
                self._guarded(follower.run(), f"task {task_id}"), name=f"ws-task-{task_id}"
            )
        if acknowledge:
            await self.reply({"type": "ack", "of": "subscribe", "ref": ref, "task_id": str(task_id)})

    async def _submit_feedback(self, frame: SubmitFeedbackIn) -> None:
        """Intake as over REST (classification, de-duplication, the workflow), then follow the task."""
        from loopdesk.feedback.schemas import FeedbackCreate
        from loopdesk.feedback.service import FeedbackService
        from loopdesk.triage.dedup import service as dedup
        from loopdesk.triage.dedup.embeddings import EmbedderUnavailable

        try:
            data = FeedbackCreate.model_validate(frame.model_dump(exclude={"type", "id"}))
        except ValidationError as exc:
            problems = [{"field": ".".join(map(str, e["loc"])) or None, "message": e["msg"]} for e in exc.errors()]
            raise FrameError("invalid_frame", "The report is not valid", detail=problems) from None
        settings = self.state.settings
        dedup_settings = getattr(settings, "dedup", None) or dedup.default_settings()
        try:
            embedder = await dedup.load_embedder(dedup_settings, allow_fallback=not settings.is_production)
        except EmbedderUnavailable:
            embedder = None
        address = self.ws.client.host if self.ws.client else None
        async with self.state.database.sessionmaker() as session, session.begin():
            await CredentialService(session).ensure_live(self.credential)
            service = FeedbackService(
                session, embedder=embedder, dedup_settings=dedup_settings, graphs=self.state.graphs
            )
            intake = await service.intake(self.user, data, client_ip=address)
            task_id, number, linked = intake.task.id, intake.task.task_number, intake.linked
        await self._subscribe_task(None, task_id, acknowledge=False)
        await self.reply(
            {
                "type": "ack",
                "of": "submit_feedback",
                "ref": frame.id,
                "task_id": str(task_id),
                "task_number": number,
                "linked": linked,
            }
        )

    def _user_follower(self) -> UserFollower:
        return UserFollower(
            self.state.persistence.pool, self.state.event_bus, self.user.id, self.send, self.following_tasks
        )

    async def _guarded(self, work: Any, what: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a closed socket ends its followers
            if self.ws.client_state == WebSocketState.CONNECTED:
                self._log.warning("realtime.follower_failed", following=what, error=repr(exc))

    async def _resume(self, frame: ResumeIn) -> None:
        async with self._transaction() as (threads, _):
            await threads.get(self.user, frame.thread_id)
        parsed = parse_event_id(frame.last_event_id)
        run_id = _uuid(parsed[0]) if parsed else None
        if parsed is None or run_id is None:
            raise FrameError(
                "invalid_event_id",
                "`last_event_id` is not the id of a run event (`<run_id>:<seq>:<n>`)",
                detail={"last_event_id": frame.last_event_id},
            )
        position = await position_after(self.state.persistence.pool, frame.thread_id, run_id, parsed[1], parsed[2])
        if position is None:
            raise FrameError(
                "event_not_found",
                "That event is no longer on the thread (its run was rolled back): subscribe and reload the thread",
                detail={"last_event_id": frame.last_event_id},
            )
        self._follow(frame.thread_id, position)
        await self.reply({"type": "ack", "of": "resume", "ref": frame.id, "thread_id": str(frame.thread_id)})

    def _check_room(self, thread_id: uuid.UUID | None) -> None:
        if thread_id not in self.followers and len(self.followers) >= self.settings.ws_max_subscriptions:
            raise FrameError(
                "too_many_subscriptions",
                f"A connection may follow at most {self.settings.ws_max_subscriptions} threads: unsubscribe first",
                detail={"limit": self.settings.ws_max_subscriptions},
            )

    def _follow(self, thread_id: uuid.UUID, position: Position) -> None:
        self._check_room(thread_id)
        previous = self.followers.pop(thread_id, None)
        if previous is not None:
            previous.cancel()
        follower = ThreadFollower(
            self.state.persistence.pool,
            self.state.event_bus,
            thread_id,
            position,
            self.send,
            self.reply,
            heartbeat=self.state.settings.runtime.heartbeat_seconds,
            capacity=self.settings.ws_buffer_events,
        )
        task = asyncio.create_task(self._guard(follower), name=f"ws-follow-{thread_id}")
        self.followers[thread_id] = task

    async def _guard(self, follower: ThreadFollower) -> None:
        try:
            await follower.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a closed socket ends its followers
            if (
                self.ws.client_state == WebSocketState.CONNECTED
                and self.ws.application_state == WebSocketState.CONNECTED
            ):
                self._log.warning("realtime.follower_failed", thread_id=str(follower.thread_id), error=repr(exc))
        finally:
            if self.followers.get(follower.thread_id) is asyncio.current_task():
                del self.followers[follower.thread_id]


@dataclass(frozen=True)
class _Started:
    thread_id: uuid.UUID
    run_id: uuid.UUID | None
    position: Position | None


def _pending_interrupt(thread: Thread, interrupt_id: str | None) -> tuple[str | None, Any]:
    """(id, value) of the interrupt a decision answers: the named one, or the only one pending."""
    pending = [i for group in (thread.interrupts or {}).values() for i in group if isinstance(i, dict)]
    if thread.status != "interrupted" or not pending:
        raise FrameError(
            "thread_not_interrupted",
            "The thread is not waiting for a decision",
            detail={"thread_id": str(thread.thread_id)},
        )
    if interrupt_id is not None:
        for item in pending:
            if item.get("id") == interrupt_id:
                return interrupt_id, item.get("value")
        raise FrameError(
            "interrupt_not_found", "No pending interrupt with this id", detail={"interrupt_id": interrupt_id}
        )
    if len(pending) > 1:
        raise FrameError(
            "interrupt_id_required",
            "Several interrupts are pending: name one with `interrupt_id`",
            detail={"interrupt_ids": [i.get("id") for i in pending]},
        )
    return pending[0].get("id"), pending[0].get("value")


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None

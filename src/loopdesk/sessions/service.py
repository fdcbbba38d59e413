"""Sessions: a user's conversation with an assistant, on top of the runtime's threads and runs.

A session is a thread (same id) plus a `user_sessions` row: owner, assistant, title, and a sliding
expiry. Executing a message is a run of the session's assistant (queued behind an active one); the
conversation is the thread's state, so Agent Protocol, WebSocket and session clients all see the
same messages, approvals and audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from langchain_core.messages import BaseMessage
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.service import record
from loopdesk.core.errors import Conflict, Forbidden, LoopdeskError, NotFound
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import Settings
from loopdesk.realtime.frames import text_of
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.runs.limits import check_run_rate
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import INFLIGHT
from loopdesk.runtime.runs.service import RunService
from loopdesk.runtime.threads.deletion import clear_thread
from loopdesk.runtime.threads.messages import message_times, record_message
from loopdesk.runtime.threads.models import Thread, ThreadMessage
from loopdesk.runtime.threads.schemas import ThreadCreate
from loopdesk.runtime.threads.service import ThreadService
from loopdesk.sessions.attachments import SessionAttachmentService, human_message, message_files, without_file_blocks
from loopdesk.sessions.expiry import expires_at, is_expired
from loopdesk.sessions.models import UserSession
from loopdesk.sessions.schemas import (
    ExecuteResult,
    MessageRead,
    SessionCreate,
    SessionPatch,
    SessionQuery,
    SessionRead,
    SessionStatus,
    ToolCallRecord,
    ToolCallRequest,
)
from loopdesk.tools.approvals.schemas import ApprovalRead
from loopdesk.tools.approvals.service import record_decision
from loopdesk.tools.models import Approval, ToolCall
from loopdesk.users.models import Role, User

log = structlog.get_logger("loopdesk.sessions")

_ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant", "tool": "tool", "system": "system"}


class SessionNotFound(NotFound):
    code, message = "session_not_found", "Session not found"


class SessionInterrupted(Conflict):
    code, message = "session_interrupted", "The session waits for a decision: decide the pending approval first"


class SessionBusy(Conflict):
    code, message = "session_busy", "A run is in progress on this session: wait for it, or cancel it"


class AssistantUnavailable(Conflict):
    code, message = "assistant_unavailable", "The session's assistant no longer exists"


class InvalidMessage(LoopdeskError):
    status_code, code, message = 422, "invalid_message", "The message is empty or too long"


@dataclass
class SessionView:
    """A session with its thread, and what follows from the two: status, last activity, expiry."""

    row: UserSession
    thread: Thread

    @property
    def last_activity_at(self) -> datetime:
        return max(self.row.last_activity_at, self.thread.updated_at)

    @property
    def expires_at(self) -> datetime | None:
        return expires_at(self.row, self.thread)

    def status(self, now: datetime | None = None) -> SessionStatus:
        if self.thread.status == "busy":
            return "running"
        if is_expired(self.row, self.thread, now):
            return "expired"
        return "interrupted" if self.thread.status == "interrupted" else "idle"

    def read(self) -> SessionRead:
        messages = (self.thread.values or {}).get("messages") if isinstance(self.thread.values, dict) else None
        return SessionRead(
            session_id=self.row.session_id,
            thread_id=self.row.session_id,
            user_id=self.row.user_id,
            assistant_id=self.row.assistant_id,
            title=self.row.title,
            metadata=self.row.metadata_,
            status=self.status(),
            message_count=len(messages) if isinstance(messages, list) else 0,
            created_at=self.row.created_at,
            last_activity_at=self.last_activity_at,
            expires_at=self.expires_at,
        )


Times = dict[str, tuple[datetime, uuid.UUID | None]]


def _field(message: BaseMessage | dict[str, Any], key: str) -> Any:
    return message.get(key) if isinstance(message, dict) else getattr(message, key, None)


def message_read(message: BaseMessage | dict[str, Any], times: Times, fallback: datetime | None) -> MessageRead:
    """A message (a LangChain object from a checkpoint, or its JSON from a run's output) as the API shows it."""
    message_id = str(_field(message, "id") or "")
    kind = str(_field(message, "type") or "")
    role = _ROLES.get(kind) or str(_field(message, "role") or "assistant")
    when, run_id = times.get(message_id, (fallback, None))
    files = message_files(_field(message, "additional_kwargs")) if role == "user" else []
    return MessageRead(
        id=message_id,
        role=role if role in ("user", "assistant", "tool", "system") else "assistant",  # type: ignore[arg-type]
        content=text_of(without_file_blocks(_field(message, "content"), files)),
        tool_calls=[
            ToolCallRequest(id=call.get("id"), name=str(call.get("name")), args=dict(call.get("args") or {}))
            for call in _field(message, "tool_calls") or []
            if isinstance(call, dict)
        ],
        tool_call_id=_field(message, "tool_call_id"),
        name=_field(message, "name"),
        run_id=run_id,
        created_at=when,
        attachments=files,
    )


async def conversation(session: AsyncSession, persistence: Persistence, thread_id: uuid.UUID) -> list[MessageRead]:
    """The messages of a thread's latest checkpoint, oldest first (the caller has checked who may read them)."""
    config = {"configurable": {"thread_id": str(thread_id), "checkpoint_ns": ""}}
    saved = await persistence.checkpointer.aget_tuple(config)  # type: ignore[arg-type]
    state: list[BaseMessage] = []
    checkpointed_at = None
    if saved is not None:
        values = saved.checkpoint.get("channel_values") or {}
        state = [m for m in values.get("messages") or [] if isinstance(m, BaseMessage)]
        checkpointed_at = datetime.fromisoformat(saved.checkpoint["ts"])
    times = await message_times(session, thread_id, [str(m.id) for m in state if m.id])
    return [message_read(m, times, checkpointed_at) for m in state]


class SessionService:
    def __init__(
        self,
        session: AsyncSession,
        graphs: GraphRegistry,
        persistence: Persistence,
        settings: Settings,
        authz: Authorizer | None = None,
    ):
        self.session = session
        self.graphs = graphs
        self.persistence = persistence
        self.settings = settings
        self.authz = authz or Authorizer()

    # -- reading ---------------------------------------------------------------------------------

    def _readable(self, caller: User):  # type: ignore[no-untyped-def]
        statement = select(UserSession, Thread).join(Thread, Thread.thread_id == UserSession.session_id)
        if not caller.is_staff:  # staff and admins read every session (support); customers their own
            statement = statement.where(UserSession.user_id == caller.id)
        return statement

    async def get(self, caller: User, session_id: uuid.UUID, *, for_update: bool = False) -> SessionView:
        if for_update:  # the lock order of the runtime: the thread's row first
            await self.session.execute(select(Thread.thread_id).where(Thread.thread_id == session_id).with_for_update())
        row = (await self.session.execute(self._readable(caller).where(UserSession.session_id == session_id))).first()
        if row is None:
            raise SessionNotFound(detail={"session_id": str(session_id)})
        return SessionView(row[0], row[1])

    async def _owned(self, caller: User, session_id: uuid.UUID, action: str) -> SessionView:
        view = await self.get(caller, session_id, for_update=True)
        if view.row.user_id != caller.id:
            raise Forbidden(f"Only the session's owner can {action} it", detail={"session_id": str(session_id)})
        return view

    async def list(self, caller: User, query: SessionQuery) -> tuple[list[SessionView], int]:
        statement = self._readable(caller)
        if query.user_id is not None:
            statement = statement.where(UserSession.user_id == query.user_id)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        activity = func.greatest(UserSession.last_activity_at, Thread.updated_at)
        rows = await self.session.execute(
            statement.order_by(activity.desc(), UserSession.session_id).limit(query.limit).offset(query.offset)
        )
        return [SessionView(r[0], r[1]) for r in rows], int(total or 0)

    # -- life cycle ------------------------------------------------------------------------------

    def _ttl(self, caller: User) -> float | None:
        sessions = self.settings.sessions
        minutes = sessions.staff_session_ttl_minutes if caller.is_staff else sessions.session_ttl_minutes
        return minutes or None

    async def create(self, caller: User, data: SessionCreate) -> SessionView:
        assistants = AssistantService(self.session, self.graphs, self.authz)
        assistant = await assistants.get(caller, data.assistant_id or self.settings.runtime.default_assistant)
        assistants.graph(assistant.graph_id, caller)
        session_id = uuid.uuid4()
        thread = await ThreadService(self.session, self.graphs, self.persistence, self.authz).create(
            caller,
            ThreadCreate(
                thread_id=session_id,
                metadata={
                    "session_id": str(session_id),
                    "assistant_id": str(assistant.assistant_id),
                    "graph_id": assistant.graph_id,
                },
            ),
        )
        row = UserSession(
            session_id=thread.thread_id,
            user_id=caller.id,
            assistant_id=assistant.assistant_id,
            title=data.title,
            metadata_=data.metadata,
            ttl_minutes=self._ttl(caller),
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        log.info("sessions.created", session_id=str(session_id), assistant_id=str(assistant.assistant_id))
        return SessionView(row, thread)

    async def patch(self, caller: User, session_id: uuid.UUID, data: SessionPatch) -> SessionView:
        view = await self._owned(caller, session_id, "change")
        if data.title is not None:
            view.row.title = data.title
        if data.metadata is not None:
            view.row.metadata_ = {**view.row.metadata_, **data.metadata}
        await self.session.flush()
        return view

    async def delete(self, caller: User, session_id: uuid.UUID) -> None:
        """The thread goes with everything keyed by its id (checkpoints, runs, tool calls, approvals);
        pending approvals are rejected first, so the audit trail, which stays, shows how they ended."""
        view = await self.get(caller, session_id, for_update=True)
        if view.row.user_id != caller.id and caller.role != Role.admin:
            raise Forbidden("Only the session's owner or an admin can delete it")
        await self._close_approvals(caller, session_id, "session_deleted", "The session was deleted")
        await record(self.session, "session.deleted", "session", session_id, actor_id=caller.id)
        await ThreadService(self.session, self.graphs, self.persistence, self.authz).delete(caller, session_id)
        log.info("sessions.deleted", session_id=str(session_id))

    async def clear(self, caller: User, session_id: uuid.UUID) -> SessionView:
        """Forget the conversation: the thread starts afresh (checkpoints gone). Long-term memory (the
        store), the runs' records, tool calls, approvals and the audit trail stay."""
        view = await self._owned(caller, session_id, "clear")
        if view.thread.status == "busy":
            raise SessionBusy(detail={"session_id": str(session_id)})
        await self._close_approvals(caller, session_id, "session_cleared", "The conversation was cleared")
        await clear_thread(self.session, view.thread)
        view.row.last_activity_at = view.thread.updated_at
        await record(self.session, "session.cleared", "session", session_id, actor_id=caller.id)
        await self.session.flush()
        log.info("sessions.cleared", session_id=str(session_id))
        return view

    async def _close_approvals(self, caller: User, session_id: uuid.UUID, via: str, message: str) -> None:
        """Pending approvals of a conversation that is going away are rejected (and audited as such)."""
        pending = await self.session.scalars(
            select(Approval.id).where(Approval.thread_id == session_id, Approval.status == "pending")
        )
        for approval_id in pending.all():
            await record_decision(self.session, approval_id, "rejected", actor_id=caller.id, via=via, message=message)

    # -- executing -------------------------------------------------------------------------------

    def check_message(self, message: str) -> None:
        limit = self.settings.sessions.max_message_chars
        if not message.strip():
            raise InvalidMessage("The message is empty", detail={"field": "message"})
        if len(message) > limit:
            raise InvalidMessage(
                f"The message is longer than {limit} characters", detail={"field": "message", "limit": limit}
            )

    async def execute(
        self,
        caller: User,
        session_id: uuid.UUID,
        message: str,
        *,
        limiter: RateLimiter,
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        attachments: Sequence[uuid.UUID] = (),
    ) -> tuple[Run, bool]:
        """Start a run of the session's assistant on the message, with files uploaded to the session
        (`attachments`): (the run, whether it is new). A repeated `idempotency_key` answers with the run it
        started the first time."""
        self.check_message(message)
        view = await self._owned(caller, session_id, "execute")
        if idempotency_key is not None:
            existing = await self.session.scalar(
                select(Run).where(
                    Run.thread_id == session_id, Run.metadata_["idempotency_key"].astext == idempotency_key
                )
            )
            if existing is not None:
                return existing, False
        if view.status() == "interrupted":  # an expired session is refused where the run is created
            pending = await self.session.scalars(
                select(Approval.id).where(Approval.thread_id == session_id, Approval.status == "pending")
            )
            raise SessionInterrupted(detail={"approval_ids": [str(i) for i in pending.all()]})
        assistants = AssistantService(self.session, self.graphs, self.authz)
        try:
            assistant = await assistants.get(caller, str(view.row.assistant_id))
            assistants.graph(assistant.graph_id, caller)
        except NotFound as exc:
            raise AssistantUnavailable(
                f"The session's assistant is not available: {exc.message}",
                detail={"assistant_id": str(view.row.assistant_id), "reason": exc.code},
            ) from None
        files = await SessionAttachmentService(self.session, settings=self.settings.attachments).for_message(
            caller, session_id, attachments
        )
        await check_run_rate(limiter, self.settings.sessions, caller)
        message_id = str(uuid.uuid4())
        run_metadata = {**(metadata or {}), "session_id": str(session_id), "message_id": message_id}
        if idempotency_key is not None:
            run_metadata["idempotency_key"] = idempotency_key
        run = await RunService(self.session, self.graphs, self.authz).start_chat_turn(
            caller,
            session_id,
            assistant_id=str(assistant.assistant_id),
            input={"messages": [human_message(message, files, message_id=message_id)]},
            metadata=run_metadata,
        )
        await record_message(self.session, session_id, message_id, run.run_id, run.created_at)
        if view.row.title is None:  # an untitled session is named after its first message
            view.row.title = _title(message)
        view.row.last_activity_at = datetime.now(UTC)
        await self.session.flush()
        log.info("sessions.executed", session_id=str(session_id), run_id=str(run.run_id))
        return run, True

    # -- the conversation ------------------------------------------------------------------------

    async def messages(self, caller: User, session_id: uuid.UUID) -> list[MessageRead]:
        """Every message, oldest first: the thread's latest checkpoint, then messages accepted but not
        yet taken up by a run (`pending`)."""
        await self.get(caller, session_id)
        items = await conversation(self.session, self.persistence, session_id)
        seen = {item.id for item in items}
        waiting = await self.session.scalars(
            select(Run).where(Run.thread_id == session_id, Run.status.in_(INFLIGHT)).order_by(Run.seq)
        )
        for run in waiting.all():
            message = _input_message(run)
            if message is not None and message.id not in seen:
                items.append(message)
        return items

    async def run_messages(self, caller: User, session_id: uuid.UUID, run: Run) -> list[MessageRead]:
        """The messages a finished run added, from its recorded output (no checkpoint read); a failed run
        has no output, so its messages come from the conversation."""
        rows = await self.session.execute(
            select(ThreadMessage.message_id, ThreadMessage.created_at).where(
                ThreadMessage.thread_id == session_id, ThreadMessage.run_id == run.run_id
            )
        )
        times: Times = {row.message_id: (row.created_at, run.run_id) for row in rows}
        output = run.output.get("messages") if isinstance(run.output, dict) else None
        if not isinstance(output, list):
            return [m for m in await self.messages(caller, session_id) if m.run_id == run.run_id]
        return [message_read(m, times, None) for m in output if isinstance(m, dict) and str(m.get("id") or "") in times]

    async def result(self, caller: User, session_id: uuid.UUID, run: Run) -> ExecuteResult:
        """What a finished (or interrupted) execute answers with."""
        messages = await self.run_messages(caller, session_id, run)
        calls = await self.session.scalars(
            select(ToolCall).where(ToolCall.run_id == run.run_id).order_by(ToolCall.created_at, ToolCall.key)
        )
        pending = await self.session.scalars(
            select(Approval)
            .where(Approval.thread_id == session_id, Approval.status == "pending")
            .order_by(Approval.created_at, Approval.id)
        )
        return ExecuteResult(
            session_id=session_id,
            run_id=run.run_id,
            status=run.status,
            messages=messages,
            tool_calls=[_tool_call(c) for c in calls.all()],
            pending_approvals=[ApprovalRead.model_validate(a) for a in pending.all()],
            error=run.error if run.status == "error" else None,
        )


def _title(message: str, limit: int = 80) -> str:
    words = " ".join(message.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


async def name_after_message(db: AsyncSession, session_id: uuid.UUID, message: str) -> None:
    """An untitled chat session takes its name from this message (its first, by whatever door it came: `execute`,
    or a `message` frame on the WebSocket); a thread that is no session is left alone."""
    await db.execute(
        update(UserSession)
        .where(UserSession.session_id == session_id, UserSession.title.is_(None))
        .values(title=_title(message))
    )


def _tool_call(call: ToolCall) -> ToolCallRecord:
    return ToolCallRecord(
        id=call.key.split(":", 1)[-1],
        tool=call.tool_name,
        args=call.args,
        status=call.status,
        result=call.result,
        is_error=call.is_error,
        approval_id=call.approval_id,
    )


def _input_message(run: Run) -> MessageRead | None:
    """The session message a run was started with, as waiting for it (`pending`)."""
    message_id = (run.metadata_ or {}).get("message_id")
    messages = ((run.kwargs or {}).get("input") or {}).get("messages")
    if not message_id or not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    files = message_files(messages[-1].get("additional_kwargs"))
    content = text_of(without_file_blocks(messages[-1].get("content"), files))
    return MessageRead(
        id=str(message_id),
        role="user",
        content=content,
        run_id=run.run_id,
        created_at=run.created_at,
        status="pending",
        attachments=files,
    )


def page(items: Sequence[MessageRead], limit: int, offset: int) -> list[MessageRead]:
    return list(items[offset : offset + limit])

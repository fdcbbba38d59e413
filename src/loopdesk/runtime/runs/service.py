"""Runs as the API sees them: create (with the thread's multitask strategy), read, cancel, delete.
Execution is a queue job (see executor.py); this side only writes rows and enqueues, in one
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Conflict, NotFound
from loopdesk.core.plainread import EntityRead
from loopdesk.core.tracing import TRACE_CONTEXT_KEY, trace_carrier
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.caller_settings import check_caller_settings
from loopdesk.runtime.custom_auth import Authorizer, matches
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.paging import split_page
from loopdesk.runtime.queue import abort
from loopdesk.runtime.runs import repository
from loopdesk.runtime.runs.context import run_context
from loopdesk.runtime.runs.lifecycle import close_log, notify, settle_thread
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.schemas import CHAT_STREAM_MODES, INFLIGHT, Command, RunCancelMany, RunCreate, RunListQuery
from loopdesk.runtime.threads.models import Thread
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.runtime.threads.service import ThreadNotFound
from loopdesk.sessions.expiry import SessionClock, check_session_open
from loopdesk.sessions.models import UserSession
from loopdesk.users.models import Role, User

log = structlog.get_logger("loopdesk.runs")


class RunNotFound(NotFound):
    code, message = "run_not_found", "Run not found"


class ThreadBusy(Conflict):
    code, message = "thread_busy", "Thread already has a run in progress (multitask_strategy is reject)"


class NothingToCancel(NotFound):
    code, message = "run_not_cancellable", "No matching runs to cancel: the run is not pending or running"


class NotInterrupted(Conflict):
    code, message = "thread_not_interrupted", "Cannot resume: the thread is not interrupted"


def merge_config(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """An assistant's config overlaid with a run's: configurable and metadata merged, tags joined."""
    override = override or {}
    merged = {**base, **override}
    for key in ("configurable", "metadata"):
        merged[key] = {**base.get(key, {}), **override.get(key, {})}
    merged["tags"] = list(dict.fromkeys([*base.get("tags", []), *override.get("tags", [])]))
    return merged


def _thread_for_run_statement(admin: bool) -> Select:
    """A thread by id, locked, with its chat session's row and the ids of its runs in progress, oldest first."""
    inflight = (
        select(func.array_agg(aggregate_order_by(Run.run_id, Run.created_at)))
        .where(Run.thread_id == Thread.thread_id, Run.status.in_(INFLIGHT))
        .correlate(Thread)
        .scalar_subquery()
    )
    statement = select(Thread).where(Thread.thread_id == bindparam("thread_id"))
    if not admin:
        statement = statement.where(Thread.owner_id == bindparam("caller_id"))
    return (
        statement.outerjoin(UserSession, UserSession.session_id == Thread.thread_id)
        .add_columns(UserSession.session_id, UserSession.ttl_minutes, UserSession.last_activity_at, inflight)
        .with_for_update(of=Thread)
    )


@dataclass(frozen=True, slots=True)
class _Clock:
    """A chat session's expiry columns (read with its thread, not the whole row)."""

    ttl_minutes: float | None
    last_activity_at: datetime


# Built once, as an admin and as anyone else reads it: every run creation runs it.
_THREAD_FOR_RUN = {admin: EntityRead(Thread, _thread_for_run_statement(admin)) for admin in (True, False)}


class RunService:
    def __init__(self, session: AsyncSession, graphs: GraphRegistry, authz: Authorizer | None = None):
        self.session = session
        self.graphs = graphs
        self.threads = ThreadRepository(session)
        self.authz = authz or Authorizer()

    # -- create ----------------------------------------------------------------------------------

    async def create(
        self, caller: User, thread_id: uuid.UUID | None, data: RunCreate, *, resume_when_busy: bool = False
    ) -> Run:
        """`resume_when_busy`: a resume may queue behind the run still finishing that will interrupt."""
        assistants = AssistantService(self.session, self.graphs, self.authz)
        assistant = await assistants.get(caller, data.assistant_id)
        registered = assistants.graph(assistant.graph_id, caller)  # 404 when the graph is not served here
        check_caller_settings(caller, registered, config=data.config, context=data.context)
        if assistant.owner_id == caller.id:  # a customer's own assistant (perhaps made before these rules)
            check_caller_settings(
                caller, registered, config=assistant.config, context=assistant.context, where="assistant."
            )
        temporary = thread_id is None
        value = {"thread_id": thread_id, "assistant_id": str(assistant.assistant_id), "metadata": data.metadata or {}}
        filters = await self.authz(caller, "threads", "create_run", value)
        data.metadata = value.get("metadata") or None
        thread, session_row, inflight = await self._thread_for_run(caller, thread_id, data)
        if filters and not temporary and not matches(thread.metadata_, filters):
            raise ThreadNotFound(detail={"thread_id": str(thread_id)})
        if not resume_when_busy:  # a decided approval continues a turn the session already took
            check_session_open(session_row, thread)
        resumable = thread.status == "interrupted" or (resume_when_busy and thread.status == "busy")
        if data.command is not None and data.command.resume is not None and not resumable:
            raise NotInterrupted(detail={"thread_id": str(thread.thread_id), "status": thread.status})

        # The thread's row is locked: its runs change status only under that lock, so `inflight` stands.
        if inflight and data.multitask_strategy == "reject":
            raise ThreadBusy(detail={"thread_id": str(thread.thread_id), "run_ids": [str(r) for r in inflight]})
        if inflight and data.multitask_strategy in ("interrupt", "rollback"):
            others = await self.session.scalars(
                select(Run).where(Run.run_id.in_(inflight)).order_by(Run.created_at).with_for_update()
            )
            for other in others.all():
                await self._cancel(other, thread, data.multitask_strategy)

        config = merge_config(assistant.config, data.config)
        kwargs: dict[str, Any] = {
            "graph_id": assistant.graph_id,
            "input": data.input,
            "command": data.command.model_dump(exclude_none=True) if data.command else None,
            "config": config,
            "context": run_context(assistant.config, assistant.context, data.config, data.context),
            "stream_mode": data.stream_mode,
            "stream_subgraphs": data.stream_subgraphs,
            "interrupt_before": data.interrupt_before,
            "interrupt_after": data.interrupt_after,
            "webhook": data.webhook,
            "checkpoint_id": data.checkpoint_id or (data.checkpoint.checkpoint_id if data.checkpoint else None),
            "durability": data.durability,
            "on_disconnect": data.on_disconnect,
            "on_completion": data.on_completion,
            "temporary": temporary,
        }
        if carrier := trace_carrier():  # the worker's span of the run continues this request's trace
            kwargs[TRACE_CONTEXT_KEY] = carrier
        run = Run(
            run_id=uuid.uuid4(),
            thread_id=thread.thread_id,
            owner_id=caller.id,
            assistant_id=assistant.assistant_id,
            metadata_=data.metadata or {},
            kwargs=kwargs,
            multitask_strategy=data.multitask_strategy,
        )
        scheduled_at = datetime.now(UTC) + timedelta(seconds=data.after_seconds) if data.after_seconds else None
        await repository.create(self.session, run, thread, scheduled_at=scheduled_at)
        log.info("runs.created", run_id=str(run.run_id), thread_id=str(thread.thread_id), graph_id=assistant.graph_id)
        return run

    async def start_chat_turn(
        self,
        caller: User,
        thread_id: uuid.UUID,
        *,
        assistant_id: str,
        input: Any = None,
        command: Command | None = None,
        metadata: dict[str, Any] | None = None,
        resume_when_busy: bool = False,
    ) -> Run:
        """One turn of a chat (a session's message, a WebSocket message or decision, an approval's resume, a staff
        reply): recorded with the stream modes the chat frames are made of, queued behind a run in progress."""
        data = RunCreate(
            assistant_id=assistant_id,
            input=input,
            command=command,
            metadata=metadata,
            stream_mode=CHAT_STREAM_MODES,
            stream_subgraphs=True,
            multitask_strategy="enqueue",
        )
        return await self.create(caller, thread_id, data, resume_when_busy=resume_when_busy)

    async def _thread_for_run(
        self, caller: User, thread_id: uuid.UUID | None, data: RunCreate
    ) -> tuple[Thread, SessionClock | None, list[uuid.UUID]]:
        """The run's thread, locked, with its chat session's row (None: not a session's) and the ids of its runs
        in progress, oldest first: one round trip. A thread is created when the run asks for it."""
        if thread_id is not None:
            read = _THREAD_FOR_RUN[caller.role == Role.admin]
            found = await read.first(self.session, {"thread_id": thread_id, "caller_id": caller.id})
            if found is not None:
                thread, (session_id, ttl_minutes, last_activity_at, inflight) = found
                clock = _Clock(ttl_minutes, last_activity_at) if session_id is not None else None
                return thread, clock, list(inflight or [])
            if data.if_not_exists != "create" or await self.threads.exists(thread_id):
                raise ThreadNotFound(detail={"thread_id": str(thread_id)})
        thread = Thread(thread_id=thread_id or uuid.uuid4(), owner_id=caller.id, metadata_={}, status="idle")
        try:
            async with self.session.begin_nested():
                return await self.threads.add(thread), None, []
        except IntegrityError:  # created concurrently by another request
            raise Conflict("Thread already exists", detail={"thread_id": str(thread.thread_id)}) from None

    # -- read ------------------------------------------------------------------------------------

    async def get(self, caller: User, thread_id: uuid.UUID, run_id: uuid.UUID, *, for_update: bool = False) -> Run:
        await self._thread_visible(caller, thread_id)
        statement = select(Run).where(Run.run_id == run_id, Run.thread_id == thread_id)
        if caller.role != Role.admin:
            statement = statement.where(Run.owner_id == caller.id)
        if for_update:
            statement = statement.with_for_update()
        run = await self.session.scalar(statement)
        if run is None:
            raise RunNotFound(detail={"run_id": str(run_id), "thread_id": str(thread_id)})
        return run

    async def _thread_visible(self, caller: User, thread_id: uuid.UUID) -> None:
        """Runs are read through their thread: the thread's `@auth.on` read filter applies."""
        if self.authz.custom is None:
            return
        thread = await self.threads.get_readable(caller, thread_id)
        if thread is None or not await self.authz.allows(
            caller, "threads", "read", {"thread_id": thread_id}, thread.metadata_
        ):
            raise ThreadNotFound(detail={"thread_id": str(thread_id)})

    async def list(self, caller: User, thread_id: uuid.UUID, query: RunListQuery) -> tuple[Sequence[Run], bool]:
        thread = await self.threads.get_readable(caller, thread_id)
        if thread is None:
            raise ThreadNotFound(detail={"thread_id": str(thread_id)})
        await self._thread_visible(caller, thread_id)
        statement = select(Run).where(Run.thread_id == thread_id)
        if query.status:
            statement = statement.where(Run.status == query.status)
        statement = statement.order_by(Run.created_at.desc()).offset(query.offset).limit(query.limit + 1)
        return split_page((await self.session.scalars(statement)).all(), query.limit)

    # -- cancel / delete -------------------------------------------------------------------------

    async def cancel(self, caller: User, thread_id: uuid.UUID, run_id: uuid.UUID, action: str) -> Run | None:
        thread = await self.session.get(Thread, thread_id, with_for_update=True)  # the thread first, then its runs
        run = await self.get(caller, thread_id, run_id, for_update=True)
        if run.status not in INFLIGHT:  # as LangGraph's server answers: nothing left to cancel
            raise NothingToCancel(detail={"run_id": str(run_id), "status": run.status})
        assert thread is not None  # runs cascade with their thread
        return await self._cancel(run, thread, action)

    async def cancel_many(self, caller: User, data: RunCancelMany, action: str) -> int:
        statement = select(Run).where(Run.status.in_(INFLIGHT))
        if caller.role != Role.admin:
            statement = statement.where(Run.owner_id == caller.id)
        if data.thread_id is not None:
            statement = statement.where(Run.thread_id == data.thread_id)
        if data.run_ids:
            statement = statement.where(Run.run_id.in_(data.run_ids))
        if data.status in ("pending", "running"):
            statement = statement.where(Run.status == data.status)
        return await self._cancel_selected(statement, action)

    async def cancel_for_assistant(self, assistant_id: uuid.UUID) -> int:
        """Every in-flight run of an assistant being deleted, whoever started it: none may outlive it."""
        statement = select(Run).where(Run.assistant_id == assistant_id, Run.status.in_(INFLIGHT))
        return await self._cancel_selected(statement, "interrupt")

    async def _cancel_selected(self, statement: Select[tuple[Run]], action: str) -> int:
        thread_ids = sorted(set((await self.session.scalars(statement.with_only_columns(Run.thread_id))).all()))
        threads = {}
        for thread_id in thread_ids:  # threads first, then their runs: the lock order of run creation
            thread = await self.session.get(Thread, thread_id, with_for_update=True)
            if thread is not None:
                threads[thread_id] = thread
        runs = (await self.session.scalars(statement.order_by(Run.thread_id).with_for_update())).all()
        for run in runs:
            thread = threads.get(run.thread_id) or await self.session.get(Thread, run.thread_id, with_for_update=True)
            assert thread is not None  # runs cascade with their thread
            await self._cancel(run, thread, action)
        return len(runs)

    async def _cancel(self, run: Run, thread: Thread, action: str) -> Run | None:
        """A pending run ends here and now. A running one shows `interrupted` at once and its worker is
        told to stop (through the queue's abort); the worker closes its log and settles the thread, and
        honours the cancel even if it takes the run up later or finishes the graph meanwhile."""
        if run.job_id is not None:
            await abort(self.session, run.job_id)
        if run.status == "running":
            run.status = "interrupted"
            run.cancel_action = action
            run.updated_at = datetime.now(UTC)
            await self.session.flush()
            log.info("runs.cancel_requested", run_id=str(run.run_id), action=action)
            return run
        if action == "rollback":
            await self.session.delete(run)
            await self.session.flush()
            await notify(self.session, run.run_id)
            await settle_thread(self.session, thread, finished=None)
            log.info("runs.rolled_back", run_id=str(run.run_id))
            return None
        run.status = "interrupted"
        run.updated_at = datetime.now(UTC)
        await close_log(self.session, run.run_id, [("end", None)])
        await settle_thread(self.session, thread, finished=run)
        log.info("runs.cancelled", run_id=str(run.run_id))
        return run

    async def delete(self, caller: User, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
        run = await self.get(caller, thread_id, run_id, for_update=True)
        if run.status in INFLIGHT:
            raise Conflict("Cancel the run before deleting it", detail={"run_id": str(run_id), "status": run.status})
        if run.cancel_action is not None:  # its worker has yet to stop, close the log and settle the thread
            raise Conflict("The run is still stopping", detail={"run_id": str(run_id), "status": run.status})
        await self.session.execute(delete(Run).where(Run.run_id == run.run_id))

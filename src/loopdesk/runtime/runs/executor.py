"""Executing a run inside a queue worker: build the assistant's graph, stream it into the run's event
log, then record the outcome on the run and its thread.

A run whose worker died is taken up again by another worker (the job is retried by the stall
sweeper): it continues from the last checkpoint the run wrote. Each take-up is a new attempt, whose number
fences every write (runs.fencing): a worker judged dead while only slow learns at its next write that its
attempt was superseded and stops, its writes refused. A cancel reaches the job through the queue's abort
(asyncio cancellation); a shutdown hands the run back to the queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from langchain_core.messages import BaseMessageChunk
from langgraph.pregel import Pregel
from langgraph.types import Command, Send
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.errors import DATABASE_UNAVAILABLE
from loopdesk.core.metrics import RUN_DURATION, RUNS_FINISHED, RUNS_SUPERSEDED
from loopdesk.core.tracing import run_span
from loopdesk.runtime.graphs import GraphRegistry, runtime_user
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.queue import RUN_TASK, WEBHOOK_TASK, defer
from loopdesk.runtime.runs import repository
from loopdesk.runtime.runs.context import graph_context
from loopdesk.runtime.runs.events import EventWriter, Publisher, last_seq
from loopdesk.runtime.runs.fencing import FencedSaver, StaleAttempt
from loopdesk.runtime.runs.lifecycle import close_log, notify, settle_thread
from loopdesk.runtime.runs.models import Run
from loopdesk.runtime.runs.repository import ClaimedRun
from loopdesk.runtime.runs.schemas import TERMINAL
from loopdesk.runtime.serde import to_jsonable
from loopdesk.runtime.store.scoped import ScopedStore
from loopdesk.runtime.threads.deletion import roll_back_run
from loopdesk.runtime.threads.messages import stamp_messages
from loopdesk.runtime.threads.models import Thread
from loopdesk.runtime.threads.state import interrupt_of

log = structlog.get_logger("loopdesk.runs.executor")


# Failures of the service's own database, not of the graph: the job is retried (with backoff) and
# the run continues from its last checkpoint. After MAX_ATTEMPTS the run ends in error.
INFRASTRUCTURE_ERRORS = DATABASE_UNAVAILABLE
MAX_ATTEMPTS = 5


def _settled(run: Run) -> bool:
    """Over, with nothing left for a worker to do: terminal and no cancel waiting to be honoured."""
    return run.status in TERMINAL and run.cancel_action is None


def _outcome(
    values: Any, interrupts: dict[str, Any], error: BaseException | None
) -> tuple[str, Any, dict[str, Any] | None, list[tuple[str, Any]]]:
    """A finished run's status, output, error and last events."""
    if error is not None:
        failure = {"error": type(error).__name__, "message": str(error)}
        return "error", {"__error__": failure}, failure, [("error", failure), ("end", None)]
    output = dict(values) if isinstance(values, dict) else values
    if interrupts and isinstance(output, dict):
        output["__interrupt__"] = [i for group in interrupts.values() for i in group]
    return ("interrupted" if interrupts else "success"), output, None, [("end", None)]


def _command(spec: dict[str, Any]) -> Command:
    def target(item: Any) -> Any:
        return Send(item["node"], item.get("input")) if isinstance(item, dict) else item

    goto = spec.get("goto")
    if isinstance(goto, list):
        goto = [target(g) for g in goto]
    elif goto is not None:
        goto = target(goto)
    return Command(resume=spec.get("resume"), update=spec.get("update"), goto=goto or ())


def _event_name(mode: str, namespace: tuple[str, ...]) -> str:
    return "|".join((mode, *namespace)) if namespace else mode


class RunExecutor:
    def __init__(
        self, database: Database, persistence: Persistence, graphs: GraphRegistry, publisher: Publisher | None = None
    ):
        self.database = database
        self.persistence = persistence
        self.graphs = graphs
        self.publisher = publisher

    async def execute(self, run_id: uuid.UUID) -> None:
        """Execute the run; a cancellation (the queue's abort, or the worker stopping) that lands in any
        phase leaves the run either finished as cancelled or back in the queue, never `running`. An attempt
        superseded by a later one (this worker was judged dead) stops, leaving the run to that attempt."""
        held = _Held()
        try:
            await self._execute(run_id, held)
        except StaleAttempt as exc:
            RUNS_SUPERSEDED.inc()
            log.warning("runs.attempt_superseded", run_id=str(run_id), attempt=exc.attempt)
        except asyncio.CancelledError:
            await asyncio.shield(self._after_cancellation(run_id, held.attempt))
            raise

    async def _after_cancellation(self, run_id: uuid.UUID, attempt: int | None) -> None:
        """`attempt`: the one this worker held (None: cancelled while taking the run up)."""
        async with self.database.sessionmaker() as session:
            run = await session.get(Run, run_id)
            if run is None or _settled(run):
                return
            if attempt is not None and run.attempt != attempt:
                return  # superseded: the run, and its cancel, are the later attempt's
            claimed = ClaimedRun.of(run, resumed=True)
        if claimed.cancel_action:
            log.info("runs.cancelled", run_id=str(run_id))
            async with self._graph_for(claimed) as graph:
                await self._finish_cancelled(claimed, graph)
        else:
            log.info("runs.handed_back", run_id=str(run_id))  # the worker is stopping
            await self._requeue(claimed)

    @asynccontextmanager
    async def _graph_for(self, claimed: ClaimedRun) -> AsyncIterator[Pregel | None]:
        """The run's graph to read its state with; None when this worker does not serve it or it fails to open."""
        registered = self.graphs.get(claimed.kwargs["graph_id"])
        async with AsyncExitStack() as stack:
            graph = None
            if registered is not None:
                opening = registered.open(
                    self._config(claimed),
                    access="threads.read",
                    checkpointer=self.persistence.checkpointer,
                    store=self.persistence.store,
                    user=runtime_user(claimed.owner_id),
                )
                try:
                    graph = await stack.enter_async_context(opening)
                except Exception as exc:  # noqa: BLE001 - the run still ends; its thread keeps its last values
                    log.warning("runs.graph_not_opened", run_id=str(claimed.run_id), error=type(exc).__name__)
            yield graph

    async def _execute(self, run_id: uuid.UUID, held: _Held) -> None:
        async with AsyncExitStack() as graphs:  # a factory's graph stays open until the run is recorded
            await self._execute_in(run_id, graphs, held)

    async def _execute_in(self, run_id: uuid.UUID, graphs: AsyncExitStack, held: _Held) -> None:
        claimed = await self._start(run_id)
        if claimed is None:
            return
        held.attempt = claimed.attempt
        graphs.enter_context(run_span(run_id, claimed.thread_id, claimed.kwargs, claimed.attempt))  # until recorded
        bound = log.bind(run_id=str(run_id), thread_id=str(claimed.thread_id), attempt=claimed.attempt)
        if claimed.cancel_action:  # cancelled while no worker held it
            await self._finish_cancelled(claimed, None)
            return
        registered = self.graphs.get(claimed.kwargs["graph_id"])
        config = self._config(claimed)
        if registered is None:
            missing = LookupError(f"graph {claimed.kwargs['graph_id']!r} is not served by this worker")
            await self._finish(claimed, None, config, error=missing)
            return
        pool = self.persistence.pool
        seq = claimed.last_seq if claimed.last_seq is not None else await last_seq(pool, run_id)
        writer = EventWriter(pool, run_id, claimed.attempt, seq + 1, self.publisher)
        graph: Pregel | None = None
        timer = RUN_DURATION.labels(claimed.kwargs["graph_id"]).time()
        timer.__enter__()
        try:
            store = ScopedStore.for_owner(self.persistence.store, claimed.owner_id)
            # This attempt's own checkpointer: each write fenced by the attempt (runs.fencing).
            checkpointer = FencedSaver(pool, run_id, claimed.attempt, serde=self.persistence.checkpointer.serde)
            opening = registered.open(
                config,
                access="threads.create_run",
                checkpointer=checkpointer,
                store=store,
                user=runtime_user(claimed.owner_id),
                context=dict(claimed.kwargs.get("context") or {}),
            )
            graph = await graphs.enter_async_context(opening)
            if writer.seq == 0:
                writer.emit("metadata", {"run_id": str(run_id), "attempt": claimed.attempt})
            await self._stream(claimed, graph, config, writer)
        except asyncio.CancelledError:
            with contextlib.suppress(StaleAttempt):
                await asyncio.shield(writer.close())
            raise  # execute() finishes the run as cancelled, or hands it back to the queue
        except StaleAttempt:
            await writer.discard()
            raise  # execute() lets the run be: a later attempt holds it
        except INFRASTRUCTURE_ERRORS:
            await writer.discard()
            bound.warning("runs.retrying_after_database_error")
            raise  # the queue retries the job; the next attempt resumes from the checkpoint
        except Exception as exc:  # noqa: BLE001 - the graph's failure is the run's outcome, not the worker's
            await writer.close()
            bound.info("runs.failed", error=type(exc).__name__)
            await self._finish(claimed, graph, config, error=exc)
            return
        finally:
            timer.__exit__(None, None, None)
        await self._finish(claimed, graph, config, writer=writer)
        bound.info("runs.finished")

    # -- phases ----------------------------------------------------------------------------------

    async def _start(self, run_id: uuid.UUID) -> ClaimedRun | None:
        claimed = await repository.start(self.persistence.pool, run_id, max_attempts=MAX_ATTEMPTS)
        if claimed is None:  # a cancel waiting, attempts used up, settled or gone
            return await self._start_otherwise(run_id)
        return claimed

    async def _start_otherwise(self, run_id: uuid.UUID) -> ClaimedRun | None:
        """Every case of taking a run up, in one ORM transaction (the common one is `repository.start`)."""
        async with self.database.sessionmaker() as session, session.begin():
            # Lock order everywhere: the thread's row, then its runs' (as run creation does). The thread is found
            # and locked by the run's id in one statement (a run's thread outlives it: the foreign key cascades).
            thread = await session.scalar(
                select(Thread)
                .join(Run, Run.thread_id == Thread.thread_id)
                .where(Run.run_id == run_id)
                .with_for_update(of=Thread)
            )
            if thread is None:
                return None
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or _settled(run):
                return None
            if run.cancel_action is not None:  # cancelled while no worker held it: closed, never started
                return ClaimedRun.of(run, resumed=True)
            if run.attempt >= MAX_ATTEMPTS:
                run.status = "error"
                run.error = {"error": "RunAbandoned", "message": f"gave up after {run.attempt} attempts"}
                run.output = {"__error__": run.error}
                await close_log(session, run.run_id, [("error", run.error), ("end", None)])
                if thread is not None:
                    await settle_thread(session, thread, finished=run, failed=True)
                return None
            resumed = run.status == "running"
            run.status = "running"
            run.attempt += 1
            run.updated_at = datetime.now(UTC)
            if thread is not None:
                thread.status = "busy"
            return ClaimedRun.of(run, resumed=resumed)

    def _config(self, claimed: ClaimedRun) -> dict[str, Any]:
        config = dict(claimed.kwargs.get("config") or {})
        ids = {
            "thread_id": str(claimed.thread_id),
            "run_id": str(claimed.run_id),
            "assistant_id": str(claimed.assistant_id),
            "graph_id": claimed.kwargs["graph_id"],
            "user_id": str(claimed.owner_id),
        }
        configurable = {**config.get("configurable", {}), **ids}
        if claimed.kwargs.get("checkpoint_id"):
            configurable["checkpoint_id"] = claimed.kwargs["checkpoint_id"]
        config["configurable"] = configurable
        config["metadata"] = {**config.get("metadata", {}), **claimed.metadata, **ids}
        return config

    async def _input(self, claimed: ClaimedRun) -> Any:
        if claimed.resumed:  # a retried attempt continues from the run's last checkpoint, if it wrote one
            async with self.persistence.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT 1 FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s LIMIT 1",
                    (str(claimed.thread_id), str(claimed.run_id)),
                )
                if await cursor.fetchone() is not None:
                    return None
        if claimed.kwargs.get("command"):
            return _command(claimed.kwargs["command"])
        return claimed.kwargs.get("input")

    async def _stream(self, claimed: ClaimedRun, graph: Pregel, config: dict[str, Any], writer: EventWriter) -> None:
        kwargs = claimed.kwargs
        requested: list[str] = kwargs.get("stream_mode") or ["values"]
        native = {"messages" if m in ("messages", "messages-tuple") else m for m in requested} - {"events"}
        options: dict[str, Any] = {
            "stream_mode": sorted(native or {"values"}),
            "subgraphs": True,
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
        }
        if kwargs.get("durability"):
            options["durability"] = kwargs["durability"]
        options["context"] = graph_context(graph, kwargs.get("context"))  # always: a schema's defaults apply
        router = _ChunkRouter(requested, writer, subgraphs=bool(kwargs.get("stream_subgraphs")))
        graph_input = await self._input(claimed)
        if "events" in requested:
            async for event in graph.astream_events(graph_input, config, version="v2", **options):
                if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
                    router.route(event["data"]["chunk"])
                else:
                    writer.emit("events", event)
        else:
            async for chunk in graph.astream(graph_input, config, **options):
                router.route(chunk)

    async def _snapshot(self, graph: Pregel | None, claimed: ClaimedRun) -> tuple[Any, dict[str, Any]]:
        if graph is None:
            return None, {}
        snapshot = await graph.aget_state({"configurable": {"thread_id": str(claimed.thread_id)}})
        interrupts = {task.id: [interrupt_of(i) for i in task.interrupts] for task in snapshot.tasks if task.interrupts}
        return to_jsonable(snapshot.values), interrupts

    async def _finish(
        self,
        claimed: ClaimedRun,
        graph: Pregel | None,
        config: dict[str, Any],
        *,
        error: BaseException | None = None,
        writer: EventWriter | None = None,
    ) -> None:
        """`writer`: the run's event writer, still to be closed (its last batch is written while the final state is
        read: two round trips at once, both before the outcome, whose events follow the writer's)."""
        if not await self._record(claimed, graph, error, writer):
            # A cancel accepted before the end was recorded stands. Its abort is on the way: shielded,
            # so that landing now cannot leave the thread unsettled (a second finish finds it settled).
            await asyncio.shield(self._finish_cancelled(claimed, graph))

    async def _record(
        self, claimed: ClaimedRun, graph: Pregel | None, error: BaseException | None, writer: EventWriter | None = None
    ) -> bool:
        """The run's outcome, its log's end and its thread's state, in one transaction; False (nothing
        recorded) when a cancel was accepted meanwhile."""

        async def snapshot() -> tuple[Any, dict[str, Any], BaseException | None]:
            try:
                return *(await self._snapshot(graph, claimed)), None
            except Exception as exc:  # noqa: BLE001 - a state we cannot read still ends the run
                return None, {}, exc

        if writer is None:
            values, interrupts, unreadable = await snapshot()
        else:
            (values, interrupts, unreadable), _ = await asyncio.gather(snapshot(), writer.close())
        error = error or unreadable
        if not claimed.kwargs.get("webhook"):  # the common case, in one statement
            status, output, failure, events = _outcome(values, interrupts, error)
            kwargs = claimed.kwargs
            recorded = await repository.finish(
                self.persistence.pool,
                claimed.run_id,
                claimed.thread_id,
                status=status,
                output=output,
                error=failure,
                attempt=claimed.attempt,
                events=events,
                values=values,
                interrupts=interrupts,
                temporary=bool(kwargs.get("temporary")) and kwargs.get("on_completion") != "keep",
            )
            if recorded is not None:
                RUNS_FINISHED.labels(kwargs["graph_id"], status).inc()
                return True
        async with self.database.sessionmaker() as session, session.begin():
            thread = await session.get(Thread, claimed.thread_id, with_for_update=True)
            run = await session.get(Run, claimed.run_id, with_for_update=True)
            if run is None or thread is None:
                return True
            if run.attempt != claimed.attempt:
                raise StaleAttempt(claimed.run_id, claimed.attempt)
            if run.cancel_action is not None:
                return False
            run.status, run.output, run.error, events = _outcome(values, interrupts, error)
            run.updated_at = datetime.now(UTC)
            RUNS_FINISHED.labels(claimed.kwargs["graph_id"], run.status).inc()
            await close_log(session, run.run_id, events)
            await settle_thread(
                session, thread, finished=run, values=values, interrupts=interrupts, failed=error is not None
            )
            await stamp_messages(session, thread.thread_id, run.run_id, run.created_at, values, run.updated_at)
            await self._after(session, run)
        return True

    async def _after(self, session: AsyncSession, run: Run) -> None:
        """Follow-up jobs of a finished run, enqueued with its final status (webhooks)."""
        if run.kwargs.get("webhook"):
            await defer(session, WEBHOOK_TASK, {"run_id": str(run.run_id)})

    async def _finish_cancelled(self, claimed: ClaimedRun, graph: Pregel | None) -> None:
        """Honour the run's cancel: its checkpoints go first on rollback (again is harmless), then the
        run's end, its thread's state and the cleared `cancel_action` commit together, so that a
        reader who sees the run stopped also sees its thread settled."""
        async with self.database.sessionmaker() as session, session.begin():
            row = (
                await session.execute(
                    select(Run.cancel_action, Run.attempt).where(Run.run_id == claimed.run_id).with_for_update()
                )
            ).first()
            if row is None or row.attempt != claimed.attempt:
                return  # gone, or a later attempt holds the run (and honours its cancel)
            if row.cancel_action == "rollback":
                await roll_back_run(session, claimed.thread_id, claimed.run_id)
        values, interrupts = None, None
        if graph is not None:
            try:
                values, interrupts = await self._snapshot(graph, claimed)
            except Exception:  # noqa: BLE001 - keep the thread's previous copy
                values, interrupts = None, None
        async with self.database.sessionmaker() as session, session.begin():
            thread = await session.get(Thread, claimed.thread_id, with_for_update=True)
            run = await session.get(Run, claimed.run_id, with_for_update=True)
            if run is None or thread is None or _settled(run) or run.attempt != claimed.attempt:
                return  # gone, honoured by a finish that got here first, or a later attempt's to honour
            if run.cancel_action == "rollback":
                await session.delete(run)
                await session.flush()
                await notify(session, claimed.run_id)
                await settle_thread(session, thread, finished=None, values=values, interrupts=interrupts)
                return
            run.status = "interrupted"
            run.cancel_action = None  # honoured: readers may now take the run as stopped
            run.updated_at = datetime.now(UTC)
            RUNS_FINISHED.labels(claimed.kwargs["graph_id"], "interrupted").inc()
            await close_log(session, run.run_id, [("end", None)])
            await settle_thread(session, thread, finished=run, values=values, interrupts=interrupts)
            await stamp_messages(session, thread.thread_id, run.run_id, run.created_at, values, run.updated_at)

    async def _requeue(self, claimed: ClaimedRun) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            attempt = await session.scalar(select(Run.attempt).where(Run.run_id == claimed.run_id).with_for_update())
            if attempt != claimed.attempt:
                return  # gone, or a later attempt holds the run
            job_id = await defer(session, RUN_TASK, {"run_id": str(claimed.run_id)}, lock=str(claimed.thread_id))
            await session.execute(
                text("UPDATE runs SET job_id = :job_id WHERE run_id = :run_id"),
                {"job_id": job_id, "run_id": claimed.run_id},
            )


@dataclass(slots=True)
class _Held:
    """The attempt this worker holds of a run, once it took the run up."""

    attempt: int | None = None


class _ChunkRouter:
    """LangGraph stream chunks → Agent Protocol events, in the modes the client asked for."""

    def __init__(self, requested: list[str], writer: EventWriter, *, subgraphs: bool):
        self.requested = set(requested)
        self.writer = writer
        self.subgraphs = subgraphs
        self.messages: dict[str, Any] = {}

    def route(self, chunk: Any) -> None:
        namespace, mode, data = chunk
        if namespace and not self.subgraphs:
            return
        if mode != "messages":
            if mode in self.requested:
                self.writer.emit(_event_name(mode, namespace), data)
            return
        message, metadata = data
        if "messages-tuple" in self.requested:
            self.writer.emit(_event_name("messages", namespace), [message, metadata])
        if "messages" in self.requested:
            self._legacy_message(message, metadata, namespace)

    def _legacy_message(self, message: Any, metadata: dict[str, Any], namespace: tuple[str, ...]) -> None:
        message_id = getattr(message, "id", None) or str(uuid.uuid4())
        if message_id not in self.messages:
            self.messages[message_id] = message
            self.writer.emit(_event_name("messages/metadata", namespace), {message_id: {"metadata": metadata}})
        elif isinstance(message, BaseMessageChunk) and isinstance(self.messages[message_id], BaseMessageChunk):
            self.messages[message_id] = self.messages[message_id] + message
        else:
            self.messages[message_id] = message
        kind = "messages/partial" if isinstance(message, BaseMessageChunk) else "messages/complete"
        self.writer.emit(_event_name(kind, namespace), [self.messages[message_id]])

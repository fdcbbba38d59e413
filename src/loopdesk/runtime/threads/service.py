"""Threads and their state. Rows here hold ownership and search fields; the state itself is LangGraph's
checkpoints, read and written through the thread's graph."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from langgraph.errors import InvalidUpdateError
from langgraph.pregel import Pregel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import BadRequest, Conflict, NotFound
from loopdesk.runtime.assistants.service import AssistantService, GraphUnavailable
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.graphs import AccessContext, GraphRegistry, runtime_user
from loopdesk.runtime.paging import split_page
from loopdesk.runtime.persistence import Persistence
from loopdesk.runtime.serde import to_jsonable
from loopdesk.runtime.threads.checkpoints import copy_checkpoints
from loopdesk.runtime.threads.deletion import delete_threads
from loopdesk.runtime.threads.models import Thread
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.runtime.threads.schemas import (
    CheckpointRef,
    HistoryQuery,
    StateUpdate,
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
    ThreadTTL,
)
from loopdesk.runtime.threads.state import checkpoint_of, empty_state, thread_state
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.threads")


class ThreadNotFound(NotFound):
    code, message = "thread_not_found", "Thread not found"


def _expiry(ttl: ThreadTTL | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(minutes=ttl.ttl) if ttl else None


class ThreadService:
    def __init__(
        self, session: AsyncSession, graphs: GraphRegistry, persistence: Persistence, authz: Authorizer | None = None
    ):
        self.session = session
        self.graphs = graphs
        self.persistence = persistence
        self.threads = ThreadRepository(session)
        self.authz = authz or Authorizer()

    async def get(
        self, caller: User, thread_id: uuid.UUID, *, for_update: bool = False, action: str = "read"
    ) -> Thread:
        thread = await self.threads.get_readable(caller, thread_id, for_update=for_update)
        if thread is not None:
            if not await self.authz.allows(caller, "threads", action, {"thread_id": thread_id}, thread.metadata_):
                thread = None
        if thread is None:
            raise ThreadNotFound(detail={"thread_id": str(thread_id)})
        return thread

    async def create(self, caller: User, data: ThreadCreate) -> Thread:
        value = {"thread_id": data.thread_id, "metadata": dict(data.metadata), "if_exists": data.if_exists}
        await self.authz(caller, "threads", "create", value)
        data.metadata = value.get("metadata") or {}
        thread_id = data.thread_id or uuid.uuid4()
        existing = await self.threads.get_readable(caller, thread_id)
        if existing is not None and data.if_exists == "do_nothing":
            return existing
        if existing is not None or await self.threads.exists(thread_id):
            raise Conflict("Thread already exists", detail={"thread_id": str(thread_id)})
        thread = Thread(
            thread_id=thread_id,
            owner_id=caller.id,
            metadata_=data.metadata,
            status="idle",
            expires_at=_expiry(data.ttl),
            ttl_minutes=data.ttl.ttl if data.ttl else None,
        )
        try:
            async with self.session.begin_nested():
                thread = await self.threads.add(thread)
        except IntegrityError:
            raise Conflict("Thread already exists", detail={"thread_id": str(thread_id)}) from None
        log.info("threads.created", thread_id=str(thread_id))
        return thread

    async def patch(self, caller: User, thread_id: uuid.UUID, data: ThreadPatch) -> Thread:
        thread = await self.get(caller, thread_id, for_update=True, action="update")
        if data.metadata is not None:
            thread.metadata_ = {**thread.metadata_, **data.metadata}
        if data.ttl is not None:
            thread.expires_at = _expiry(data.ttl)
            thread.ttl_minutes = data.ttl.ttl
        thread.updated_at = datetime.now(UTC)
        await self.session.flush()
        return thread

    async def delete(self, caller: User, thread_id: uuid.UUID) -> None:
        thread = await self.get(caller, thread_id, for_update=True, action="delete")
        await delete_threads(self.session, self.persistence, [thread.thread_id])
        log.info("threads.deleted", thread_id=str(thread_id))

    async def search(self, caller: User, query: ThreadSearch) -> tuple[Sequence[Thread], bool]:
        rows = await self.threads.search(
            caller,
            metadata=await self.authz.search_metadata(caller, "threads", query.metadata),
            values=query.values,
            status=query.status,
            ids=query.ids,
            limit=query.limit + 1,
            offset=query.offset,
            sort_by=query.sort_by or "created_at",
            descending=(query.sort_order or "desc") == "desc",
        )
        return split_page(rows, query.limit)

    async def count(self, caller: User, query: ThreadCount) -> int:
        metadata = await self.authz.search_metadata(caller, "threads", query.metadata)
        return await self.threads.count(caller, metadata=metadata, values=query.values, status=query.status)

    async def copy(self, caller: User, thread_id: uuid.UUID) -> Thread:
        source = await self.get(caller, thread_id)
        copy = await self.threads.add(
            Thread(
                thread_id=uuid.uuid4(),
                owner_id=caller.id,
                metadata_=dict(source.metadata_),
                status=source.status if source.status != "busy" else "idle",
                values=source.values,
                interrupts=source.interrupts,
            )
        )
        await copy_checkpoints(self.persistence.pool, str(source.thread_id), str(copy.thread_id))
        return copy

    async def prune(self, caller: User, data: ThreadPrune) -> int:
        """Delete threads, or keep only their latest checkpoint. Ids the caller cannot see are skipped."""
        ids = await self.threads.readable_ids(caller, data.thread_ids)
        if not ids:
            return 0
        if data.strategy == "delete":
            await delete_threads(self.session, self.persistence, ids)
        else:
            await self.persistence.checkpointer.aprune([str(i) for i in ids], strategy="keep_latest")
        return len(ids)

    # -- state ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def _graph(self, caller: User, thread: Thread, access: AccessContext) -> AsyncIterator[Pregel | None]:
        """The graph the thread runs, open for this use: metadata `graph_id`, else the graph of metadata
        `assistant_id`; None when the thread names neither."""
        graph_id = thread.metadata_.get("graph_id")
        config: dict[str, Any] = {}
        if graph_id is None and (assistant_ref := thread.metadata_.get("assistant_id")):
            assistant = await AssistantService(self.session, self.graphs).get(caller, str(assistant_ref))
            graph_id, config = assistant.graph_id, assistant.config
        if graph_id is None:
            yield None
            return
        registered = self.graphs.get(str(graph_id))
        if str(graph_id) in self.graphs.unavailable:
            raise GraphUnavailable.of(str(graph_id))
        if registered is None:
            raise BadRequest(f"Thread's graph '{graph_id}' is not served here", detail={"graph_id": graph_id})
        async with registered.open(
            config,
            access=access,
            checkpointer=self.persistence.checkpointer,
            store=self.persistence.store,
            user=runtime_user(caller.id, caller.display_name),
        ) as graph:
            yield graph

    @staticmethod
    def _config(thread: Thread, checkpoint: CheckpointRef | None = None, checkpoint_id: str | None = None) -> dict:
        configurable: dict[str, Any] = {"thread_id": str(thread.thread_id), "checkpoint_ns": ""}
        if checkpoint is not None:
            configurable["checkpoint_ns"] = checkpoint.checkpoint_ns
            if checkpoint.checkpoint_id:
                configurable["checkpoint_id"] = checkpoint.checkpoint_id
            if checkpoint.checkpoint_map:
                configurable["checkpoint_map"] = checkpoint.checkpoint_map
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        return {"configurable": configurable}

    async def get_state(
        self,
        caller: User,
        thread_id: uuid.UUID,
        *,
        checkpoint: CheckpointRef | None = None,
        checkpoint_id: str | None = None,
        subgraphs: bool = False,
    ) -> dict[str, Any]:
        thread = await self.get(caller, thread_id)
        config = self._config(thread, checkpoint, checkpoint_id)
        async with self._graph(caller, thread, "threads.read") as graph:
            if graph is None:
                return empty_state(str(thread.thread_id))
            checkpoint_id = config["configurable"].get("checkpoint_id")
            if checkpoint_id and await self.persistence.checkpointer.aget_tuple(config) is None:
                raise NotFound("Checkpoint not found", detail={"checkpoint_id": checkpoint_id})
            return thread_state(await graph.aget_state(config, subgraphs=subgraphs))

    async def update_state(self, caller: User, thread_id: uuid.UUID, data: StateUpdate) -> dict[str, Any]:
        thread = await self.get(caller, thread_id, for_update=True, action="update")
        if thread.status == "busy":
            raise Conflict("Thread is busy with a run", detail={"thread_id": str(thread_id)})
        async with self._graph(caller, thread, "threads.update") as graph:
            if graph is None:
                raise BadRequest(
                    "Thread has no graph: set metadata.graph_id or run an assistant on it first",
                    detail={"thread_id": str(thread_id)},
                )
            try:
                config = await graph.aupdate_state(
                    self._config(thread, data.checkpoint, data.checkpoint_id), data.values, as_node=data.as_node
                )
            except (InvalidUpdateError, ValueError, KeyError) as exc:  # unknown node, ambiguous update, bad channel
                raise BadRequest(f"Cannot update state: {exc}") from None
            await self._refresh(thread, graph)
        return {"checkpoint": checkpoint_of(config)}

    async def history(self, caller: User, thread_id: uuid.UUID, query: HistoryQuery) -> list[dict[str, Any]]:
        thread = await self.get(caller, thread_id)
        before = query.before
        before_config = None
        if isinstance(before, str):
            before_config = self._config(thread, checkpoint_id=before)
        elif before is not None:
            before_config = self._config(thread, before)
        async with self._graph(caller, thread, "threads.read") as graph:
            if graph is None:
                return []
            history = graph.aget_state_history(
                self._config(thread, query.checkpoint), filter=query.metadata, before=before_config, limit=query.limit
            )
            return [thread_state(snapshot) async for snapshot in history]

    async def _refresh(self, thread: Thread, graph: Pregel) -> None:
        """Copy the latest values and interrupts onto the row (searchable, shown by GET /threads/{id})."""
        snapshot = await graph.aget_state(self._config(thread))
        thread.values = to_jsonable(snapshot.values)
        interrupts: dict[str, list] = {}
        for task in snapshot.tasks:
            if task.interrupts:
                interrupts[task.id] = [{"value": to_jsonable(i.value), "id": i.id} for i in task.interrupts]
        thread.interrupts = interrupts
        thread.status = "interrupted" if interrupts else "idle"
        thread.updated_at = datetime.now(UTC)
        await self.session.flush()

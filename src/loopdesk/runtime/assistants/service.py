"""Assistants: create, version, search, and the graph behind them. Services flush; the request commits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from langgraph.pregel import Pregel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Conflict, Forbidden, LoopdeskError, NotFound
from loopdesk.runtime.assistants.models import Assistant, AssistantVersion
from loopdesk.runtime.assistants.repository import AssistantRepository
from loopdesk.runtime.assistants.schemas import (
    AssistantCount,
    AssistantCreate,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionsSearch,
)
from loopdesk.runtime.caller_settings import check_caller_settings
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.graphs import GraphRegistry, RegisteredGraph, default_assistant_id, runtime_user
from loopdesk.runtime.paging import split_page
from loopdesk.users.models import SYSTEM_USER_ID, Role, User

log = structlog.get_logger("loopdesk.assistants")


class AssistantNotFound(NotFound):
    code, message = "assistant_not_found", "Assistant not found"


class GraphNotFound(NotFound):
    code, message = "graph_not_found", "Graph not found"


class GraphUnavailable(LoopdeskError):
    """The configuration names the graph but it failed to load at start (the server log says why)."""

    status_code, code, message = 424, "graph_unavailable", "Graph failed to load and is not served"

    @classmethod
    def of(cls, graph_id: str) -> GraphUnavailable:
        return cls(
            f"Graph '{graph_id}' failed to load and is not served: see the server log", detail={"graph_id": graph_id}
        )


class AssistantService:
    def __init__(self, session: AsyncSession, graphs: GraphRegistry, authz: Authorizer | None = None):
        self.session = session
        self.graphs = graphs
        self.assistants = AssistantRepository(session)
        self.authz = authz or Authorizer()

    def resolve_id(self, assistant_id: str) -> uuid.UUID:
        """An assistant id, or a graph id standing for that graph's default assistant."""
        if assistant_id in self.graphs or assistant_id in self.graphs.unavailable:
            return default_assistant_id(assistant_id)
        try:
            return uuid.UUID(assistant_id)
        except ValueError:
            raise AssistantNotFound(detail={"assistant_id": assistant_id}) from None

    def graph(self, graph_id: str, caller: User | None = None) -> RegisteredGraph:
        """The served graph; an internal one only for the system account (`caller` None: loopdesk itself)."""
        registered = self.graphs.get(graph_id)
        if graph_id in self.graphs.unavailable:
            raise GraphUnavailable.of(graph_id)
        if registered is not None and registered.internal and caller is not None and caller.id != SYSTEM_USER_ID:
            registered = None
        if registered is None:
            raise GraphNotFound(f"Graph '{graph_id}' not found", detail={"graph_id": graph_id})
        return registered

    async def get(
        self, caller: User, assistant_id: str, *, for_update: bool = False, action: str = "read"
    ) -> Assistant:
        resolved = self.resolve_id(assistant_id)
        assistant = await self.assistants.get_readable(caller, resolved, for_update=for_update)
        if assistant is not None:
            if not await self.authz.allows(
                caller, "assistants", action, {"assistant_id": resolved}, assistant.metadata_
            ):
                assistant = None
        if assistant is None:
            raise AssistantNotFound(detail={"assistant_id": assistant_id})
        return assistant

    async def _get_writable(self, caller: User, assistant_id: str, action: str = "update") -> Assistant:
        assistant = await self.get(caller, assistant_id, for_update=True, action=action)
        if assistant.owner_id is None and caller.role != Role.admin:
            raise Forbidden("Default assistants can only be changed by an admin")
        if assistant.owner_id != caller.id and not caller.is_staff:
            raise Forbidden("The organisation's assistants are changed by staff")
        return assistant

    async def create(self, caller: User, data: AssistantCreate) -> Assistant:
        value = {"assistant_id": data.assistant_id, "graph_id": data.graph_id, "metadata": dict(data.metadata)}
        await self.authz(caller, "assistants", "create", value)
        data.metadata = value.get("metadata") or {}
        check_caller_settings(caller, self.graph(data.graph_id, caller), config=data.config, context=data.context)
        assistant_id = data.assistant_id or uuid.uuid4()
        existing = await self.assistants.get_readable(caller, assistant_id)
        if existing is not None and data.if_exists == "do_nothing":
            return existing
        if existing is not None or await self.assistants.exists(assistant_id):
            raise Conflict("Assistant already exists", detail={"assistant_id": str(assistant_id)})
        assistant = Assistant(
            assistant_id=assistant_id,
            graph_id=data.graph_id,
            name=data.name or "Untitled",
            description=data.description,
            config=data.config,
            context=data.context,
            metadata_=data.metadata,
            version=1,
            owner_id=caller.id,
        )
        try:
            async with self.session.begin_nested():
                assistant = await self.assistants.add(assistant)
        except IntegrityError:  # created concurrently with the same id
            raise Conflict("Assistant already exists", detail={"assistant_id": str(assistant_id)}) from None
        log.info("assistants.created", assistant_id=str(assistant_id), graph_id=data.graph_id)
        return assistant

    async def patch(self, caller: User, assistant_id: str, data: AssistantPatch) -> Assistant:
        """A patch makes a new version, which becomes the current one."""
        assistant = await self._get_writable(caller, assistant_id)
        check_caller_settings(
            caller, self.graph(data.graph_id or assistant.graph_id, caller), config=data.config, context=data.context
        )
        if data.graph_id is not None:
            assistant.graph_id = data.graph_id
        if data.config is not None:
            assistant.config = data.config
        if data.context is not None:
            assistant.context = data.context
        if data.metadata is not None:
            assistant.metadata_ = {**assistant.metadata_, **data.metadata}
        if data.name is not None:
            assistant.name = data.name
        if data.description is not None:
            assistant.description = data.description
        assistant.version = await self.assistants.max_version(assistant.assistant_id) + 1
        assistant.updated_at = datetime.now(UTC)
        await self.session.flush()
        await self.assistants.add_version(assistant)
        return assistant

    async def set_latest(self, caller: User, assistant_id: str, version: int) -> Assistant:
        assistant = await self._get_writable(caller, assistant_id)
        stored = await self.assistants.get_version(assistant.assistant_id, version)
        if stored is None:
            raise NotFound("Assistant version not found", detail={"version": version})
        for attribute in ("graph_id", "name", "description", "config", "context", "metadata_", "version"):
            setattr(assistant, attribute, getattr(stored, attribute))
        assistant.updated_at = datetime.now(UTC)
        await self.session.flush()
        return assistant

    async def delete(self, caller: User, assistant_id: str) -> None:
        """The assistant, its crons, and an interrupt of its in-flight runs (whoever started them), as
        LangGraph's server does: nothing runs or fires for an assistant that is gone."""
        # Imported here: runs and crons resolve assistants through this module.
        from loopdesk.runtime.crons.service import CronService
        from loopdesk.runtime.runs.service import RunService

        assistant = await self._get_writable(caller, assistant_id, "delete")
        crons = await CronService(self.session, self.graphs).delete_for_assistant(assistant.assistant_id)
        runs = await RunService(self.session, self.graphs).cancel_for_assistant(assistant.assistant_id)
        await self.assistants.delete(assistant)
        log.info(
            "assistants.deleted", assistant_id=str(assistant.assistant_id), crons_deleted=crons, runs_cancelled=runs
        )

    async def search(self, caller: User, query: AssistantSearch) -> tuple[Sequence[Assistant], bool]:
        """The page, and whether more rows follow it."""
        rows = await self.assistants.search(
            caller,
            metadata=await self.authz.search_metadata(caller, "assistants", query.metadata),
            graph_id=query.graph_id,
            name=query.name,
            limit=query.limit + 1,
            offset=query.offset,
            sort_by=query.sort_by or "created_at",
            descending=(query.sort_order or "desc") == "desc",
        )
        return split_page(rows, query.limit)

    async def count(self, caller: User, query: AssistantCount) -> int:
        metadata = await self.authz.search_metadata(caller, "assistants", query.metadata)
        return await self.assistants.count(caller, metadata=metadata, graph_id=query.graph_id, name=query.name)

    async def versions(
        self, caller: User, assistant_id: str, query: AssistantVersionsSearch
    ) -> Sequence[AssistantVersion]:
        assistant = await self.get(caller, assistant_id)
        return await self.assistants.versions(
            assistant.assistant_id, metadata=query.metadata, limit=query.limit, offset=query.offset
        )

    async def sync_defaults(self) -> list[str]:
        """Create the default assistant of every configured graph that lacks one (one that failed to load too:
        clients find it, and using it says why it is not served)."""
        created = []
        internal = {graph_id for graph_id, registered in self.graphs.graphs.items() if registered.internal}
        for graph_id in [*self.graphs.graphs, *self.graphs.unavailable]:
            if graph_id in internal:  # its owner makes its assistant (ensure_internal_assistant)
                continue
            if await self.assistants.ensure_system_assistant(default_assistant_id(graph_id), graph_id):
                created.append(graph_id)
        return created

    async def ensure_internal_assistant(self, graph_id: str) -> uuid.UUID:
        """The assistant loopdesk runs an internal graph with, owned by the system account (admins read it)."""
        assistant_id = default_assistant_id(graph_id)
        await self.assistants.ensure_system_assistant(assistant_id, graph_id, owner_id=SYSTEM_USER_ID)
        return assistant_id

    @asynccontextmanager
    async def open_graph(self, caller: User, assistant: Assistant) -> AsyncIterator[Pregel]:
        """The assistant's graph, opened to describe it (schemas, nodes, subgraphs)."""
        registered = self.graph(assistant.graph_id, caller)
        user = runtime_user(caller.id, caller.display_name)
        async with registered.open(assistant.config, access="assistants.read", user=user) as graph:
            yield graph

"""`/api/v1/support`: the agents in force (staff read; admins replace or reload them), the models they may name
(staff read), the staff inbox of escalated conversations, taking one over, replying as a person, handing it back."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from loopdesk.auth.deps import AdminUser, CurrentUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import Conflict, LoopdeskError
from loopdesk.core.schemas import Page
from loopdesk.llm.catalog import configured_models
from loopdesk.runtime.deps import GraphsDep
from loopdesk.support import config
from loopdesk.support.agents import AgentsConfigError, AgentSet
from loopdesk.support.inbox import Inbox
from loopdesk.support.repository import AgentSetRepository
from loopdesk.support.schemas import (
    AgentRead,
    AgentSetRead,
    AgentSetWrite,
    EscalateIn,
    EscalationRead,
    ModelRead,
    ModelsRead,
    ReleaseIn,
    ReplyIn,
    ReplyRead,
)
from loopdesk.tools.base import ToolPermissionError
from loopdesk.tools.deps import ToolRuntimeDep
from loopdesk.tools.registry import ToolRegistry

router = APIRouter(prefix="/api/v1/support", tags=["support"])


class InvalidAgents(LoopdeskError):
    status_code, code, message = 422, "invalid_agents", "The agents YAML is not valid"


class NoAgentsFile(Conflict):
    code, message = "no_agents_file", "No agents file is configured (LOOPDESK_SUPPORT_AGENTS_FILE)"


async def _inbox(session: SessionDep, graphs: GraphsDep) -> Inbox:
    return Inbox(session, graphs)


InboxDep = Annotated[Inbox, Depends(_inbox)]
InboxStatus = Literal["open", "taken", "closed", "any"]


def _agents_read(agents: AgentSet, registry: ToolRegistry) -> list[AgentRead]:
    listed = []
    for agent in agents.agents:
        try:
            bound = [spec.name for spec in registry.bind(agent.tools, permission=agent.permission)]
        except ToolPermissionError:
            bound = []
        limits = {tool: {arg: limit.model_dump() for arg, limit in args.items()} for tool, args in agent.limits.items()}
        listed.append(
            AgentRead(
                name=agent.name,
                description=agent.description,
                permission=agent.permission,
                intents=agent.intents,
                tools=agent.tools,
                bound_tools=bound,
                model=agent.model,
                limits=limits,
            )
        )
    return listed


async def _read(session: SessionDep, registry: ToolRegistry) -> AgentSetRead:
    row = await AgentSetRepository(session).latest()
    agents = await config.agents_in_force(session)
    return AgentSetRead(
        id=row.id if row else None,
        source=row.source if row else "built-in",
        created_at=row.created_at if row else None,
        document=row.document if row else config.DEFAULT_DOCUMENT,
        intents_model=agents.supervisor.intents_model,
        supervisor_model=agents.supervisor.model,
        escalate_intents=agents.supervisor.escalate_intents,
        agents=_agents_read(agents, registry),
    )


@router.get("/agents", response_model=AgentSetRead)
async def get_agents(_: StaffUser, session: SessionDep, runtime: ToolRuntimeDep) -> AgentSetRead:
    """The agent set in force, with the tools each agent is bound to now."""
    return await _read(session, await runtime.fresh_registry())


@router.put("/agents", response_model=AgentSetRead, responses={422: {"description": "`invalid_agents`: where"}})
async def put_agents(
    data: AgentSetWrite, admin: AdminUser, session: SessionDep, settings: SettingsDep, runtime: ToolRuntimeDep
) -> AgentSetRead:
    """Replace the agent set; it is checked first (YAML, names, tools, permissions, models) and every process
    uses it from its next turn. A problem: 422 `invalid_agents` with the line."""
    registry = await runtime.fresh_registry()
    try:
        await config.store(session, data.document, "api", registry=registry, settings=settings, actor_id=admin.id)
    except AgentsConfigError as exc:
        raise InvalidAgents(str(exc), detail={"line": exc.line, "problem": exc.problem}) from None
    return await _read(session, registry)


@router.post("/agents/reload", response_model=AgentSetRead)
async def reload_agents(
    admin: AdminUser, session: SessionDep, settings: SettingsDep, runtime: ToolRuntimeDep
) -> AgentSetRead:
    """Read LOOPDESK_SUPPORT_AGENTS_FILE again and put it in force (checked like a PUT)."""
    path = settings.support.support_agents_file
    if path is None:
        raise NoAgentsFile()
    registry = await runtime.fresh_registry()
    try:
        document = config.read_file(path)
        await config.store(session, document, str(path), registry=registry, settings=settings, actor_id=admin.id)
    except AgentsConfigError as exc:
        raise InvalidAgents(str(exc), detail={"line": exc.line, "problem": exc.problem}) from None
    return await _read(session, registry)


@router.get("/models", response_model=ModelsRead)
async def get_models(_: StaffUser, settings: SettingsDep) -> ModelsRead:
    """The chat models the operator configured (LOOPDESK_LLM_*, LOOPDESK_LLM_MODELS): what each name calls and
    where. Keys and what a URL may hide (user, password, path, query) are never shown."""
    default, named = configured_models(settings.llm)
    return ModelsRead(default=ModelRead.model_validate(default), named=[ModelRead.model_validate(m) for m in named])


@router.get("/inbox", response_model=Page[EscalationRead])
async def inbox(
    staff: StaffUser,
    service: InboxDep,
    status: Annotated[
        list[InboxStatus] | None,
        Query(
            description="one or more, repeated (`status=open&status=taken`: every live escalation); `any`: "
            "whatever the status; default `open`"
        ),
    ] = None,
    thread_id: Annotated[uuid.UUID | None, Query(description="only this conversation's escalations")] = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[EscalationRead]:
    """Conversations handed to people, newest first (`status=open`: waiting for someone; `mine`: taken by me;
    `thread_id` with `status=open&status=taken`: the conversation's live escalation, if any)."""
    asked = set(status or ["open"])
    statuses = None if "any" in asked else sorted(asked)
    rows, total = await service.listing(
        staff, statuses=statuses, thread_id=thread_id, mine=mine, limit=limit, offset=offset
    )
    return Page(items=[EscalationRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/escalations/{escalation_id}/take", response_model=EscalationRead)
async def take(escalation_id: uuid.UUID, staff: StaffUser, service: InboxDep) -> EscalationRead:
    """Take the conversation over: the agents stop answering; the customer's messages come to you."""
    return EscalationRead.model_validate(await service.take(staff, escalation_id))


@router.post("/escalations/{escalation_id}/release", response_model=EscalationRead)
async def release(
    escalation_id: uuid.UUID, staff: StaffUser, service: InboxDep, data: ReleaseIn | None = None
) -> EscalationRead:
    """Hand the conversation back to the agents, or close it (`close: true`)."""
    close = data.close if data is not None else False
    return EscalationRead.model_validate(await service.release(staff, escalation_id, close=close))


@router.post("/conversations/{thread_id}/escalate", response_model=EscalationRead)
async def escalate(
    thread_id: uuid.UUID, user: CurrentUser, service: InboxDep, data: EscalateIn | None = None
) -> EscalationRead:
    """Hand a conversation to people (a customer: their own; staff: any). Returns the open escalation."""
    reason = data.reason if data is not None else EscalateIn().reason
    return EscalationRead.model_validate(await service.escalate(user, thread_id, reason))


@router.post("/conversations/{thread_id}/reply", response_model=ReplyRead)
async def reply(thread_id: uuid.UUID, data: ReplyIn, staff: StaffUser, service: InboxDep) -> ReplyRead:
    """Say something to the customer as a person, in their own stream (you must have taken the conversation)."""
    event_id, run_id = await service.reply(staff, thread_id, data.text)
    return ReplyRead(event_id=event_id, run_id=run_id)

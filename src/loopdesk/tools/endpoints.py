"""Tools: what the registry offers (with the effective approval mode for the caller), and approval
policies (admins): a default per tool and per-user overrides."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from loopdesk.audit.service import record
from loopdesk.auth.deps import AdminUser, CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.errors import NotFound
from loopdesk.tools.deps import ToolRegistryDep
from loopdesk.tools.policy import effective_mode, policies_for, remove_policy, set_policy
from loopdesk.tools.registry import Listed
from loopdesk.tools.schemas import PolicyRead, PolicySet, ToolRead

router = APIRouter(prefix="/api/v1/tools", tags=["tools"])


class ToolNotFound(NotFound):
    code, message = "tool_not_found", "No tool with this name"


async def _read(session: SessionDep, listed: Listed, user_id: uuid.UUID) -> ToolRead:
    spec = listed.spec
    effective = await effective_mode(session, spec, user_id)
    return ToolRead(
        name=spec.name,
        description=spec.description,
        source=spec.source,
        source_id=spec.source_id,
        side_effect=spec.side_effect,
        parameters=spec.parameters,
        available=listed.available,
        unavailable_reason=None if listed.available else listed.detail,
        approval_mode=effective.mode,
        approval_origin=effective.origin,
    )


def _listed(registry: ToolRegistryDep, name: str) -> Listed:
    for listed in registry.listing():
        if listed.spec.name == name:
            return listed
    raise ToolNotFound(detail={"name": name})


@router.get("", response_model=list[ToolRead])
async def list_tools(user: CurrentUser, session: SessionDep, registry: ToolRegistryDep) -> list[ToolRead]:
    """Every tool of every source, with whether it is reachable now and what a call by you would do."""
    return [await _read(session, listed, user.id) for listed in registry.listing()]


@router.get("/{name}", response_model=ToolRead)
async def get_tool(name: str, user: CurrentUser, session: SessionDep, registry: ToolRegistryDep) -> ToolRead:
    return await _read(session, _listed(registry, name), user.id)


@router.get("/{name}/approval", response_model=list[PolicyRead])
async def get_policies(name: str, _: AdminUser, session: SessionDep, registry: ToolRegistryDep) -> list[PolicyRead]:
    """The tool's policy rows: its default (user_id null) and per-user overrides."""
    _listed(registry, name)
    return [PolicyRead.model_validate(row) for row in await policies_for(session, name)]


@router.put("/{name}/approval", response_model=PolicyRead)
async def put_policy(
    name: str, data: PolicySet, admin: AdminUser, session: SessionDep, registry: ToolRegistryDep
) -> PolicyRead:
    """Set the tool's default mode, or one user's override: auto, require_approval or deny."""
    _listed(registry, name)
    if data.user_id is not None:
        from loopdesk.users.models import User

        if await session.get(User, data.user_id) is None:
            raise NotFound("No user with this id", detail={"user_id": str(data.user_id)})
    row = await set_policy(session, name, data.user_id, data.mode)
    await record(session, "tool_policy.set", "tool", name, actor_id=admin.id, mode=data.mode, user_id=str(data.user_id))
    return PolicyRead.model_validate(row)


@router.delete("/{name}/approval", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(name: str, admin: AdminUser, session: SessionDep, user_id: uuid.UUID | None = None) -> Response:
    """Remove the default (no `user_id`) or one user's override; the tool falls back to the next rule."""
    if not await remove_policy(session, name, user_id):
        raise NotFound("No such policy", detail={"tool": name, "user_id": str(user_id) if user_id else None})
    await record(session, "tool_policy.removed", "tool", name, actor_id=admin.id, user_id=str(user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)

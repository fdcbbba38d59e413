"""MCP servers registered at run time (admins): a command to spawn (stdio) or a streamable-HTTP URL.
The server's tools join the registry at once, in every process; `env` and `headers` are stored
encrypted and never shown back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field, ValidationError

from loopdesk.audit.service import record
from loopdesk.auth.deps import AdminUser, StaffUser
from loopdesk.core.crypto import SecretBox
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import Conflict, NotFound
from loopdesk.core.schemas import Schema
from loopdesk.tools.deps import ToolRuntimeDep
from loopdesk.tools.mcp.config import MCPServerConfig
from loopdesk.tools.mcp.repository import ToolSourceRepository
from loopdesk.tools.models import ToolSourceRow

router = APIRouter(prefix="/api/v1/mcp-servers", tags=["mcp servers"])

_SECRET_FIELDS = ("env", "headers", "url")  # a URL may carry a password


class MCPServerCreate(Schema):
    name: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    transport: Literal["stdio", "http"]
    command: str | None = Field(None, max_length=1000)
    args: list[str] = Field(default_factory=list, max_length=100)
    env: dict[str, str] = Field(default_factory=dict, description="stored encrypted, never shown back")
    cwd: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict, description="stored encrypted, never shown back")
    timeout_seconds: float = Field(30, gt=0, le=600)
    call_timeout_seconds: float = Field(60, gt=0, le=3600)


class MCPServerRead(Schema):
    name: str
    transport: str
    config: dict[str, Any] = Field(..., description="the configuration with env and header values masked")
    enabled: bool
    status: str = Field(..., description="ok, unavailable, or pending (not loaded by this process yet)")
    status_detail: str | None
    tools: list[str]
    created_at: datetime
    updated_at: datetime


class InvalidServer(Conflict):
    status_code, code, message = 422, "invalid_mcp_server", "The MCP server configuration is not valid"


def _read(row: ToolSourceRow, runtime: Any) -> MCPServerRead:
    source = runtime.registry.sources().get(f"mcp:{row.name}")
    health = source.health() if source is not None else None
    return MCPServerRead(
        name=row.name,
        transport=row.config.get("transport", "stdio"),
        config=row.config,
        enabled=row.enabled,
        status=health.status if health else "pending",
        status_detail=health.detail if health else None,
        tools=[spec.name for spec in source.tools()] if source is not None else [],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _row(session: SessionDep, name: str) -> ToolSourceRow:
    row = await ToolSourceRepository(session).get_mcp(name)
    if row is None:
        raise NotFound("No MCP server with this name", detail={"name": name})
    return row


@router.post("", response_model=MCPServerRead, status_code=status.HTTP_201_CREATED)
async def register_server(
    data: MCPServerCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep, runtime: ToolRuntimeDep
) -> MCPServerRead:
    """Register a server; its tools are offered at once (health `unavailable` with a reason if it cannot be
    reached: the registration stays, and it is retried)."""
    try:
        config = MCPServerConfig.model_validate(data.model_dump())
    except ValidationError as exc:
        raise InvalidServer(detail=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]) from None
    sources = ToolSourceRepository(session)
    if await sources.name_taken(config.name):
        raise Conflict("An MCP server with this name exists", detail={"name": config.name})
    public = config.public_dict()  # secret values masked; the real ones go encrypted
    secrets = {k: getattr(config, k) for k in _SECRET_FIELDS}
    now = datetime.now(UTC)
    row = ToolSourceRow(
        kind="mcp",
        name=config.name,
        config=public,
        secrets=SecretBox.from_settings(settings).seal(secrets),
        created_by=admin.id,
        created_at=now,
        updated_at=now,
    )
    await sources.add(row)
    await record(session, "mcp_server.registered", "mcp_server", config.name, actor_id=admin.id, **config.public_dict())
    await session.commit()
    await runtime.fresh_registry()
    return _read(row, runtime)


@router.get("", response_model=list[MCPServerRead])
async def list_servers(_: StaffUser, session: SessionDep, runtime: ToolRuntimeDep) -> list[MCPServerRead]:
    await runtime.fresh_registry()
    return [_read(row, runtime) for row in await ToolSourceRepository(session).list_mcp()]


@router.get("/{name}", response_model=MCPServerRead)
async def get_server(name: str, _: StaffUser, session: SessionDep, runtime: ToolRuntimeDep) -> MCPServerRead:
    await runtime.fresh_registry()
    return _read(await _row(session, name), runtime)


@router.post("/{name}/refresh", response_model=MCPServerRead)
async def refresh_server(name: str, _: AdminUser, session: SessionDep, runtime: ToolRuntimeDep) -> MCPServerRead:
    """List the server's tools again now (reconnecting if it was down)."""
    row = await _row(session, name)
    await runtime.fresh_registry()
    source = runtime.registry.sources().get(f"mcp:{name}")
    if source is not None:
        await source.refresh()
    return _read(row, runtime)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_server(name: str, admin: AdminUser, session: SessionDep, runtime: ToolRuntimeDep) -> Response:
    """Unregister: its tools go from every process, its process (stdio) is stopped."""
    row = await _row(session, name)
    await ToolSourceRepository(session).delete(row)
    await record(session, "mcp_server.removed", "mcp_server", name, actor_id=admin.id)
    await session.commit()
    await runtime.fresh_registry()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

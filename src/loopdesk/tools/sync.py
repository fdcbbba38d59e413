"""Keeping a process's registry in step with the tool sources registered in the database (MCP
servers, approved OpenAPI imports): one small query per look, sources rebuilt only when their row
changed. Every process (API or worker) sees a change on its next look: an approval is live at once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog

from loopdesk.core.crypto import SecretBox
from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.tools.base import ToolSource
from loopdesk.tools.mcp.repository import ToolSourceRepository
from loopdesk.tools.net import OutboundPolicy
from loopdesk.tools.openapi.repository import ImportRepository
from loopdesk.tools.registry import ToolRegistry

log = structlog.get_logger("loopdesk.tools.sync")


class SourceSync:
    def __init__(self, database: Database, registry: ToolRegistry, settings: Settings, box: SecretBox):
        self.database = database
        self.registry = registry
        self.settings = settings
        self.box = box
        self.policy = OutboundPolicy.from_allowlist(settings.outbound.allowlist)
        self._seen: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    async def _wanted(self) -> dict[str, tuple[datetime, Any]]:
        async with self.database.sessionmaker() as session:
            servers = await ToolSourceRepository(session).enabled_versions()
            imports = await ImportRepository(session).approved_versions()
        wanted: dict[str, tuple[datetime, Any]] = {}
        for name, kind, updated_at in servers:
            wanted[f"{kind}:{name}"] = (updated_at, ("server", name))
        for name, updated_at in imports:
            wanted[f"openapi:{name}"] = (updated_at, ("import", name))
        return wanted

    async def refresh(self) -> None:
        wanted = await self._wanted()
        if {k: v[0] for k, v in wanted.items()} == self._seen:
            return
        async with self._lock:
            for key in [k for k in self._seen if k not in wanted]:
                await self.registry.remove(key)
                self._seen.pop(key, None)
            for key, (updated_at, (what, name)) in wanted.items():
                if self._seen.get(key) == updated_at:
                    continue
                try:
                    source = await (self._server(name) if what == "server" else self._import(name))
                except Exception as exc:  # noqa: BLE001 - a bad row must not hide every other tool
                    log.warning("tools.source_unloadable", source=key, error=f"{type(exc).__name__}: {exc}")
                    self._seen[key] = updated_at
                    continue
                if source is not None:
                    await self.registry.add(source)
                self._seen[key] = updated_at

    async def _server(self, name: str) -> ToolSource | None:
        from loopdesk.tools.mcp.config import MCPServerConfig
        from loopdesk.tools.mcp.source import MCPSource

        async with self.database.sessionmaker() as session:
            row = await ToolSourceRepository(session).get(name)
        if row is None:
            return None
        config = MCPServerConfig.model_validate({**row.config, **self.box.open(row.secrets)})
        return MCPSource(config, policy=self.policy)

    async def _import(self, name: str) -> ToolSource | None:
        from loopdesk.tools.openapi.source import Credentials, OpenAPISource
        from loopdesk.tools.openapi.spec import Operation

        async with self.database.sessionmaker() as session:
            row = await ImportRepository(session).by_name(name)
        if row is None or not row.base_url:
            return None
        secret = self.box.open(row.credentials)
        credentials = Credentials(**secret) if secret else None
        operations = [Operation.from_dict(item) for item in row.operations]
        return OpenAPISource(
            row.name,
            row.base_url,
            operations,
            self.policy,
            credentials,
            timeout=self.settings.outbound.outbound_timeout_seconds,
        )

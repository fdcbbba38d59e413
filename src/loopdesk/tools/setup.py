"""Bringing the tool layer up in a process (the server, or a worker): Python plugins, the sources
registered in the database, the runtime graphs reach them through."""

from __future__ import annotations

from loopdesk.core.crypto import SecretBox
from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.persistence import Persistence
from loopdesk.tools import runtime
from loopdesk.tools.python import discover
from loopdesk.tools.registry import ToolRegistry
from loopdesk.tools.runtime import ToolRuntime
from loopdesk.tools.sync import SourceSync


def configured_mcp_servers(settings: Settings) -> list:  # type: ignore[type-arg]
    """MCP servers listed in LOOPDESK_MCP_SERVERS_FILE (JSON or YAML: a list of server objects)."""
    path = settings.tools.mcp_servers_file
    if path is None:
        return []
    import yaml
    from pydantic import ValidationError

    from loopdesk.core.settings import SettingsError
    from loopdesk.tools.mcp.config import MCPServerConfig
    from loopdesk.tools.mcp.source import MCPSource
    from loopdesk.tools.net import OutboundPolicy

    try:
        entries = yaml.safe_load(path.read_text()) or []
        if isinstance(entries, dict):
            entries = entries.get("servers", [])
        if not isinstance(entries, list):
            raise ValueError("expected a list of servers")
        configs = [MCPServerConfig.model_validate(entry) for entry in entries]
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as exc:
        raise SettingsError(f"LOOPDESK_MCP_SERVERS_FILE {path}: {exc}") from None
    policy = OutboundPolicy.from_allowlist(settings.outbound.allowlist)
    return [MCPSource(config, policy=policy) for config in configs]


async def start_tools(
    database: Database,
    settings: Settings,
    *,
    graphs: GraphRegistry | None = None,
    persistence: Persistence | None = None,
) -> ToolRuntime:
    registry = ToolRegistry()
    for source in discover(settings.tools.plugins_dir):
        await registry.add(source)
    for source in configured_mcp_servers(settings):
        await registry.add(source)
    sync = SourceSync(database, registry, settings, SecretBox.from_settings(settings))
    tool_runtime = ToolRuntime(
        database=database, registry=registry, settings=settings, sync=sync, graphs=graphs, persistence=persistence
    )
    runtime.install(tool_runtime)
    return tool_runtime


async def stop_tools(tool_runtime: ToolRuntime) -> None:
    await tool_runtime.registry.close()
    runtime.install(None)

"""What graphs running in this process use to reach tools: the registry, the database (policies,
approvals, tool-call records) and settings. Installed once by the server or the worker at start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopdesk.core.db import Database
    from loopdesk.core.settings import Settings
    from loopdesk.runtime.graphs import GraphRegistry
    from loopdesk.runtime.persistence import Persistence
    from loopdesk.tools.registry import ToolRegistry
    from loopdesk.tools.sync import SourceSync


@dataclass
class ToolRuntime:
    database: Database
    registry: ToolRegistry
    settings: Settings
    sync: SourceSync | None = None
    # For tools that act on the runtime (report_problem reads the conversation and starts the task's workflow).
    graphs: GraphRegistry | None = None
    persistence: Persistence | None = None

    async def fresh_registry(self) -> ToolRegistry:
        """The registry with the sources registered in the database as they are now."""
        if self.sync is not None:
            await self.sync.refresh()
        return self.registry


_installed: ToolRuntime | None = None


def install(runtime: ToolRuntime | None) -> None:
    global _installed
    _installed = runtime


def current() -> ToolRuntime:
    if _installed is None:
        raise RuntimeError("the tool runtime is not installed in this process (start it with `loopdesk serve`)")
    return _installed

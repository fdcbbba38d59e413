from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loopdesk.tools.registry import ToolRegistry
from loopdesk.tools.runtime import ToolRuntime


async def get_tool_runtime(request: Request) -> ToolRuntime:
    return request.app.state.tools


async def get_tool_registry(request: Request) -> ToolRegistry:
    """The registry, brought up to date with the sources registered in the database."""
    return await request.app.state.tools.fresh_registry()


ToolRuntimeDep = Annotated[ToolRuntime, Depends(get_tool_runtime)]
ToolRegistryDep = Annotated[ToolRegistry, Depends(get_tool_registry)]

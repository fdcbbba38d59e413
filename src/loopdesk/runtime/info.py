"""Agent Protocol server description: `/ok` (liveness, no auth) and `/info`."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter

from loopdesk import __version__
from loopdesk.auth.deps import CurrentUser
from loopdesk.runtime.deps import GraphsDep

router = APIRouter(tags=["system"])


@router.get("/ok")
async def ok() -> dict[str, bool]:
    """Liveness for LangGraph clients (no auth; readiness is /api/v1/health)."""
    return {"ok": True}


@router.get("/info")
async def info(user: CurrentUser, graphs: GraphsDep) -> dict[str, Any]:
    """What this server is and can do: the graphs it serves, and those its configuration names that failed to
    load (the server log says why)."""
    return {
        "version": __version__,
        "langgraph_py_version": version("langgraph"),
        "flags": {"assistants": True, "crons": True, "store": True, "langsmith": False},
        "graphs": sorted(graph_id for graph_id, registered in graphs.graphs.items() if not registered.internal),
        "unavailable_graphs": sorted(graphs.unavailable),
    }

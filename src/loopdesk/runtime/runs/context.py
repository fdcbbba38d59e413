"""The context a run hands its graph, as LangGraph's server builds it: the assistant's context (or, when it
has none, its `configurable`) overlaid with the run's context (or, when none is given, the run's
`configurable`), then narrowed to the fields of the graph's `context_schema`. It is always passed, so a graph
whose schema has defaults gets them on a plain run instead of `context=None`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.pregel import Pregel

from loopdesk.runtime.graphs import schema_fields


def run_context(
    assistant_config: Mapping[str, Any],
    assistant_context: Mapping[str, Any] | None,
    run_config: Mapping[str, Any] | None,
    run_context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Stored with the run when it is created (the graph is known only when it executes)."""
    base = assistant_context or assistant_config.get("configurable") or {}
    own = run_context or (run_config or {}).get("configurable") or {}
    return {**base, **own}


def graph_context(graph: Pregel, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's context without the keys the graph's context schema does not have (LangGraph would refuse
    them when it builds a dataclass or pydantic context); unchanged for a graph without a schema."""
    context = dict(context or {})
    fields = schema_fields(getattr(graph, "context_schema", None))
    if not fields:
        return context
    return {key: value for key, value in context.items() if key in fields}

"""LangGraph StateSnapshot → the Agent Protocol ThreadState document."""

from __future__ import annotations

from typing import Any

from langgraph.types import StateSnapshot

from loopdesk.runtime.serde import to_jsonable


def checkpoint_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    configurable = config.get("configurable", {})
    return {
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable.get("checkpoint_id"),
        "checkpoint_map": configurable.get("checkpoint_map"),
    }


def interrupt_of(interrupt: Any) -> dict[str, Any]:
    return {"value": to_jsonable(interrupt.value), "id": interrupt.id}


def thread_state(snapshot: StateSnapshot) -> dict[str, Any]:
    return {
        "values": to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "error": repr(task.error) if task.error else None,
                "interrupts": [interrupt_of(i) for i in task.interrupts],
                "checkpoint": checkpoint_of(task.state) if isinstance(task.state, dict) else None,
                "state": thread_state(task.state) if isinstance(task.state, StateSnapshot) else None,
                "result": to_jsonable(task.result),
            }
            for task in snapshot.tasks
        ],
        "checkpoint": checkpoint_of(snapshot.config),
        "metadata": to_jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_of(snapshot.parent_config),
        "interrupts": [interrupt_of(i) for i in snapshot.interrupts],
    }


def empty_state(thread_id: str) -> dict[str, Any]:
    """The state of a thread no graph has run on yet."""
    return {
        "values": {},
        "next": [],
        "tasks": [],
        "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None, "checkpoint_map": None},
        "metadata": {},
        "created_at": None,
        "parent_checkpoint": None,
        "interrupts": [],
    }

"""The thread-centric streaming protocol (`langchain_protocol`, what `client.threads.stream` speaks):
request shapes, and the translation of a run's logged events into protocol events.

Positions are derived from the durable log, never from a connection: an event's `seq` is
`run.seq << 26 | log seq << 4 | n` (n: the n-th protocol event made from that log event), so every
reader, on any process, numbers the same event the same way and `since` / `Last-Event-ID` resume a
stream exactly after the event named. It stays below 2**53 (exact in JavaScript) up to 2**27 runs.
Like the reference server's, the `messages` channel carries content-block events (made from the model
chunks a run records, content_blocks.py) and `lifecycle` announces each subgraph, `started` when its
first task starts and done when the parent's task that ran it ends (LangGraph's LifecycleTransformer)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from pydantic import Field, field_validator

from loopdesk.runtime.assistants.schemas import ProtocolSchema
from loopdesk.runtime.runs.events import Event
from loopdesk.runtime.threads.content_blocks import Emitted, MessageStreams

CHANNELS = frozenset({"values", "updates", "checkpoints", "messages", "tools", "custom", "lifecycle", "input", "tasks"})
# What a run started by a command records: the channels above that runs here can produce (model chunks
# become `messages`, tasks also give subgraphs' `lifecycle`).
RUN_STREAM_MODES: list[Any] = ["values", "updates", "messages-tuple", "custom", "tasks", "checkpoints"]
log = structlog.get_logger("loopdesk.threads")
_RUN_SHIFT, _LOG_SHIFT = 26, 4
_LIFECYCLE = {"success": "completed", "error": "failed", "timeout": "failed", "interrupted": "interrupted"}


def position(run_seq: int, log_seq: int, n: int) -> int:
    return run_seq << _RUN_SHIFT | log_seq << _LOG_SHIFT | n


def first_run(since: int) -> int:
    """The creation seq of the run a cursor points into: earlier runs need not be read at all."""
    return since >> _RUN_SHIFT


class EventStreamRequest(ProtocolSchema):
    channels: list[str] = Field(..., min_length=1, max_length=50)
    namespaces: list[list[str]] | None = Field(None, max_length=50)
    depth: int | None = Field(None, ge=0, le=1000)
    since: int | None = Field(None, ge=0, lt=2**53)

    @field_validator("channels")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CHANNELS and not (c.startswith("custom:") and len(c) > 7)]
        if unknown:
            raise ValueError(f"unsupported channel {unknown[0]!r}; allowed: {sorted(CHANNELS)} or custom:<name>")
        return value


class ProtocolCommand(ProtocolSchema):
    id: int = Field(..., ge=0, lt=2**53)
    method: str = Field(..., min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


def _channel(event: dict[str, Any]) -> str:
    method = event["method"]
    if method == "input.requested":
        return "input"
    if method == "custom":
        name = event["params"]["data"].get("name") if isinstance(event["params"]["data"], dict) else None
        return f"custom:{name}" if name else "custom"
    return method


def _prefix(namespace: list[str], prefix: list[str]) -> bool:
    """Segments match literally, or by name when the prefix segment has no `:<task id>` suffix."""
    if len(prefix) > len(namespace):
        return False
    return all(c == p or (":" not in p and c.split(":", 1)[0] == p) for c, p in zip(namespace, prefix, strict=False))


def wanted(event: dict[str, Any], request: EventStreamRequest) -> bool:
    channel = _channel(event)
    if channel not in request.channels and not (channel.startswith("custom:") and "custom" in request.channels):
        return False
    if not request.namespaces:
        return True
    namespace = event["params"]["namespace"]
    return any(
        _prefix(namespace, prefix) and (request.depth is None or len(namespace) - len(prefix) <= request.depth)
        for prefix in request.namespaces
    )


Part = tuple[str, list[str], Any, str | None]  # (method, namespace, data, node)


def _messages(emitted: list[Emitted]) -> list[Part]:
    return [("messages", namespace, data, None) for namespace, data in emitted]


class _Subgraphs:
    """Subgraph lifecycle from a run's `tasks` events, inferred as LangGraph's LifecycleTransformer does
    (which the reference server forwards): a namespace starts with its first task and ends with the
    result of the parent's task named in its last segment (`<node>:<task id>`)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, ...]] = set()
        self.open: dict[tuple[str, ...], tuple[str, str]] = {}  # namespace -> (parent's task id, graph name)
        self.tool_calls: dict[str, str] = {}  # task id -> the id of the tool call the task runs

    def started(self, namespace: list[str], task: dict[str, Any]) -> list[Part]:
        self._note_tool_call(task)
        key = tuple(namespace)
        if not namespace or key in self.seen:
            return []
        self.seen.add(key)
        name, _, trigger = namespace[-1].partition(":")
        if not trigger:
            return []  # nothing would say when it ends
        agent = (task.get("metadata") or {}).get("lc_agent_name")
        graph_name = agent or name
        data: dict[str, Any] = {"event": "started", "namespace": namespace, "graph_name": graph_name}
        data["trigger_call_id"] = trigger
        if agent and trigger in self.tool_calls:  # a sub-agent run by a tool call
            data["cause"] = {"type": "toolCall", "tool_call_id": self.tool_calls[trigger]}
        self.open[key] = (trigger, graph_name)
        return [("lifecycle", namespace, data, None)]

    def ended(self, namespace: list[str], result: dict[str, Any]) -> list[Part]:
        if result.get("interrupts"):
            status, error = "interrupted", None
        else:
            status, error = ("failed", str(result["error"])) if result.get("error") else ("completed", None)
        children = [
            k for k, (trigger, _) in self.open.items() if list(k[:-1]) == namespace and trigger == result.get("id")
        ]
        return [part for child in children for part in self._end(child, status, error)]

    def close_all(self, status: str, error: str | None = None) -> list[Part]:
        """Every namespace still open, the deepest first (the run is over)."""
        return [part for key in sorted(self.open, key=len, reverse=True) for part in self._end(key, status, error)]

    def _end(self, key: tuple[str, ...], status: str, error: str | None) -> list[Part]:
        _, graph_name = self.open.pop(key)
        data: dict[str, Any] = {"event": status, "graph_name": graph_name}
        if error is not None:
            data["error"] = error
        return [("lifecycle", list(key), data, None)]

    def _note_tool_call(self, task: dict[str, Any]) -> None:
        """A tool-call task (its input a `tool_call_with_context`, or a list of calls) names the call."""
        payload = task.get("input")
        calls = (
            [payload["tool_call"]] if isinstance(payload, dict) and isinstance(payload.get("tool_call"), dict) else []
        )
        calls += payload if isinstance(payload, list) else []
        ids = [c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)]
        if ids and isinstance(task.get("id"), str):
            self.tool_calls[task["id"]] = ids[0]


@dataclass(frozen=True)
class RunRef:
    run_id: uuid.UUID
    seq: int
    graph_id: str


class RunTranslator:
    """One run's log events → protocol events (`{type, event_id, seq, method, params}`). It remembers
    what the run said so far (its failure, the interrupts requested), so feed it the run from its start."""

    def __init__(self, run: RunRef):
        self.run = run
        self.failed = False
        self.requested: set[str] = set()  # an interrupt rides on both `updates` and `values`: ask once
        self.messages = MessageStreams()
        self.subgraphs = _Subgraphs()

    def translate(self, event: Event, status: str | None = None) -> Iterator[dict[str, Any]]:
        """`status`: the run's status, read when its `end` arrives (None: the run is gone)."""
        name, *namespace = event.event.split("|")
        data = orjson.loads(event.data)
        parts = self._parts(name, namespace, data, status)
        if len(parts) > 1 << _LOG_SHIFT:  # n must fit its bits: say so rather than drop events unseen
            log.warning("threads.stream_events_dropped", run_id=str(self.run.run_id), log_seq=event.seq,
                        made=len(parts), kept=1 << _LOG_SHIFT)  # fmt: skip
            parts = parts[: 1 << _LOG_SHIFT]
        for n, (method, ns, payload, node) in enumerate(parts):
            yield self._event(event.seq, n, method, ns, payload, node)

    def _parts(self, name: str, namespace: list[str], data: Any, status: str | None) -> list[Part]:
        if name == "metadata":
            return [("lifecycle", [], {"event": "running", "graph_name": self.run.graph_id}, None)]
        if name == "error":
            self.failed = True
            message = data.get("message", str(data)) if isinstance(data, dict) else str(data)
            root = ("lifecycle", [], {"event": "failed", "graph_name": self.run.graph_id, "error": message}, None)
            return [*self.subgraphs.close_all("failed", message), root]
        if name == "end":
            event = _LIFECYCLE.get(status or "success", "completed")
            closing = [*_messages(self.messages.close_all()), *self.subgraphs.close_all("completed")]
            if event == "failed" and self.failed:
                return closing
            return [*closing, ("lifecycle", [], {"event": event, "graph_name": self.run.graph_id}, None)]
        if name == "messages":
            return _messages(self.messages.chunk(namespace, data))
        if name == "values" and isinstance(data, dict):
            interrupts = data.get("__interrupt__")
            values = {k: v for k, v in data.items() if k != "__interrupt__"}
            return [*self._input_requested(namespace, interrupts), ("values", namespace, values, None)]
        if name == "updates" and isinstance(data, dict):
            parts: list[Part] = []
            for node, values in data.items():
                if node == "__interrupt__":
                    parts.extend(self._input_requested(namespace, values))
                else:
                    update = values if isinstance(values, dict) else {"value": values}
                    parts.append(("updates", namespace, {"node": node, "values": update}, node))
            return parts
        if name == "custom":
            return [("custom", namespace, {"payload": data}, None)]
        if name == "tasks" and isinstance(data, dict):
            if "result" not in data:
                return [*self.subgraphs.started(namespace, data), ("tasks", namespace, data, None)]
            ended = _messages(self.messages.task_done(namespace, data))
            return [*ended, ("tasks", namespace, data, None), *self.subgraphs.ended(namespace, data)]
        if name == "checkpoints" and isinstance(data, dict):
            return [("checkpoints", namespace, _checkpoint(data), None)]
        return []  # events, debug: no protocol channel carries them

    def _input_requested(self, namespace: list[str], interrupts: Any) -> list[Part]:
        parts: list[Part] = []
        for item in interrupts if isinstance(interrupts, list) else ():
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] not in self.requested:
                self.requested.add(item["id"])
                data = {"interrupt_id": item["id"], "payload": item.get("value")}
                parts.append(("input.requested", namespace, data, None))
        return parts

    def _event(
        self, log_seq: int, n: int, method: str, namespace: list[str], data: Any, node: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"namespace": namespace, "timestamp": int(time.time() * 1000), "data": data}
        if node is not None:
            params["node"] = node
        return {
            "type": "event",
            "event_id": f"{self.run.run_id}:{log_seq}.{n}",
            "seq": position(self.run.seq, log_seq, n),
            "method": method,
            "params": params,
        }


def _checkpoint(data: dict[str, Any]) -> dict[str, Any]:
    """A logged checkpoint (a state snapshot) as the protocol's `{id, parent_id, step, source}`."""
    configurable = (data.get("config") or {}).get("configurable") or {}
    parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
    metadata = data.get("metadata") or {}
    out: dict[str, Any] = {
        "id": configurable.get("checkpoint_id"),
        "step": metadata.get("step", -1),
        "source": metadata.get("source", "loop"),
    }
    if parent:
        out["parent_id"] = parent
    return out

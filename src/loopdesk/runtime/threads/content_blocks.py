"""A run's recorded model chunks (`messages` tuples) as the protocol's content-block events:
`message-start`, per block `content-block-start` / `-delta` / `-finish`, `message-finish`.

The reference server has LangChain turn the model's stream into these events (its compat bridge,
`chunks_to_events`); the same bridge steps run here, one recorded chunk at a time, so the blocks,
their indices and the finalised tool calls come out alike. Like the reference, only streamed chunks
become events: whole messages (a node's return value, a model that did not stream) do not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import _compat_bridge as bridge
from langchain_core.messages import AIMessageChunk
from langchain_core.utils._gateway import GATEWAY_METADATA_RESPONSE_KEY
from langchain_core.utils._merge import merge_dicts
from pydantic import ValidationError

Emitted = tuple[list[str], dict[str, Any]]  # (namespace, event data)


@dataclass
class _Message:
    """One model stream in progress: what the bridge keeps between chunks."""

    namespace: list[str]
    task: str  # the checkpoint namespace of the task that called the model
    blocks: dict[Any, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    usage: Any = None
    response_metadata: dict[str, Any] = field(default_factory=dict)
    additional_kwargs: dict[str, Any] = field(default_factory=dict)

    def feed(self, chunk: AIMessageChunk) -> list[dict[str, Any]]:
        metadata = dict(chunk.response_metadata or {})
        metadata.pop(GATEWAY_METADATA_RESPONSE_KEY, None)  # for tracing only: the bridge drops it too
        self.response_metadata.update(metadata)
        if chunk.additional_kwargs:
            self.additional_kwargs = merge_dicts(self.additional_kwargs, chunk.additional_kwargs)
        events: list[dict[str, Any]] = []
        for key, block in bridge._iter_protocol_blocks(chunk):
            if key in self.blocks:
                index, so_far = self.blocks[key]
                self.blocks[key] = (index, bridge._accumulate(so_far, block))
            else:
                index = len(self.blocks)
                self.blocks[key] = (index, dict(block))
                events.append(
                    {"event": "content-block-start", "index": index, "content": bridge._start_skeleton(block)}
                )
            delta = bridge._to_content_delta(block)
            if delta is not None:
                events.append({"event": "content-block-delta", "index": index, "delta": delta})
        if chunk.usage_metadata:
            self.usage = bridge._accumulate_usage(self.usage, chunk.usage_metadata)
        return events

    def finish(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [
            dict(bridge._finalize_and_build_finish(index, block)) for index, block in self.blocks.values()
        ]
        finish = bridge._build_message_finish(
            usage=self.usage, response_metadata=self.response_metadata, additional_kwargs=self.additional_kwargs
        )
        return [*events, dict(finish)]


class MessageStreams:
    """The model streams of one run, fed its `messages` log events in order."""

    def __init__(self) -> None:
        self.open: dict[str, _Message] = {}

    def chunk(self, namespace: list[str], data: Any) -> list[Emitted]:
        message, metadata = _tuple(data)
        chunk = _chunk(message)
        if chunk is None:
            return []
        task = str(metadata.get("langgraph_checkpoint_ns", ""))
        current = self.open.get(chunk.id or "") or self._last_of(task, chunk)
        events: list[dict[str, Any]] = []
        if current is None and chunk.chunk_position == "last" and not chunk.content:
            return []  # the end of a stream already closed (with its task)
        if current is None:
            current = self.open[chunk.id or ""] = _Message(namespace, task)
            events.append(dict(bridge._build_message_start(chunk, chunk.id)))
        events += current.feed(chunk)
        if chunk.chunk_position == "last":
            events += self._close(current)
        return [(current.namespace, event) for event in events]

    def task_done(self, namespace: list[str], task: dict[str, Any]) -> list[Emitted]:
        """Streams a finished task left open (a model stream that never said `last`)."""
        segment = f"{task.get('name')}:{task.get('id')}"
        done = [m for m in self.open.values() if m.namespace == namespace and m.task.split("|")[-1] == segment]
        return [(m.namespace, event) for m in done for event in self._close(m)]

    def close_all(self) -> list[Emitted]:
        return [(m.namespace, event) for m in list(self.open.values()) for event in self._close(m)]

    def _last_of(self, task: str, chunk: AIMessageChunk) -> _Message | None:
        """LangChain ends a model's stream with an empty `last` chunk under the run's id, which differs
        from the message's when the model named it: that chunk closes the task's latest stream."""
        if chunk.chunk_position != "last" or chunk.content:
            return None
        same_task = [m for m in self.open.values() if m.task == task]
        return same_task[-1] if same_task else None

    def _close(self, message: _Message) -> list[dict[str, Any]]:
        self.open = {key: m for key, m in self.open.items() if m is not message}
        return message.finish()


def _tuple(data: Any) -> tuple[Any, dict[str, Any]]:
    if isinstance(data, list) and len(data) == 2 and isinstance(data[1], dict):
        return data[0], data[1]
    return None, {}


def _chunk(message: Any) -> AIMessageChunk | None:
    if not isinstance(message, dict) or message.get("type") != "AIMessageChunk":
        return None
    try:
        return AIMessageChunk.model_validate(message)
    except ValidationError:
        return None

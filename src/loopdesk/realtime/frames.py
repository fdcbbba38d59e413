"""A run's durable events → WebSocket frames.

The translation is a pure function of the run's log (read from its first event): a follower that
starts mid-run replays the earlier events silently, so tool calls seen in a subgraph and again in its
parent's update are sent once, whichever event a client resumes from. Frame `n` of the event with
sequence `seq` has the event id `<run_id>:<seq>:<n>`; the user's message is `<run_id>:0:0`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from loopdesk.runtime.runs.events import Event

AI_TYPES = {"ai", "AIMessageChunk", "AIMessage"}
USER_TYPES = {"human", "user", "HumanMessage"}


def event_id(run_id: str, seq: int, n: int) -> str:
    return f"{run_id}:{seq}:{n}"


def parse_event_id(value: str) -> tuple[str, int, int] | None:
    """(run_id, seq, n) of a run-event frame id, or None if it is not one."""
    parts = value.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def text_of(content: Any) -> str:
    """Plain text of a message's content: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block if isinstance(block, str) else str(block.get("text", ""))
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") in ("text", None))
        )
    return ""


def user_text(run_input: Any) -> str | None:
    """The user's message in a run's input ({"messages": [...]} whose last one is the user's)."""
    if not isinstance(run_input, dict):
        return None
    messages = run_input.get("messages")
    if isinstance(messages, dict | str):
        messages = [messages]
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if isinstance(last, str):
        return last
    if isinstance(last, dict) and (last.get("role") in USER_TYPES or last.get("type") in USER_TYPES):
        return text_of(last.get("content"))
    return None


def _messages_of(update: Any) -> list[dict[str, Any]]:
    if not isinstance(update, dict):
        return []
    messages = update.get("messages")
    if isinstance(messages, dict):
        messages = [messages]
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def interrupt_frame(value: Any, interrupt_id: str | None) -> list[dict[str, Any]]:
    """An interrupt's value → `interrupt` / `clarification` frames (without ids). Understood shapes:
    LangChain's HITL request (`action_requests`), {"type": "clarification", "message"}, {"action",
    "params" | "args", "description", "expires_at"}; anything else is an `interrupt` of action
    "input" with the value as its params."""
    if isinstance(value, dict):
        if value.get("type") == "clarification":
            message = value.get("message") or value.get("question") or ""
            return [{"type": "clarification", "interrupt_id": interrupt_id, "message": str(message)}]
        requests = value.get("action_requests")
        if isinstance(requests, list) and requests:
            return [
                {
                    "type": "interrupt",
                    "interrupt_id": interrupt_id,
                    "action": str(r.get("name") or r.get("action") or "tool"),
                    "params": r.get("args", {}),
                    "description": r.get("description"),
                    "expires_at": value.get("expires_at"),
                }
                for r in requests
                if isinstance(r, dict)
            ]
        if isinstance(value.get("action"), str):
            return [
                {
                    "type": "interrupt",
                    "interrupt_id": interrupt_id,
                    "action": value["action"],
                    "params": value.get("params", value.get("args")),
                    "description": value.get("description"),
                    "expires_at": value.get("expires_at"),
                }
            ]
    description = value.get("question") if isinstance(value, dict) else value if isinstance(value, str) else None
    return [
        {
            "type": "interrupt",
            "interrupt_id": interrupt_id,
            "action": "input",
            "params": value,
            "description": description if isinstance(description, str) else None,
            "expires_at": None,
        }
    ]


class RunFrames:
    """Translates one run's events, in order, into frames (with event ids, thread and run ids)."""

    def __init__(self, thread_id: str, run_id: str):
        self.thread_id = thread_id
        self.run_id = run_id
        self._tool_calls: set[str] = set()
        self._tool_results: set[str] = set()
        self._interrupts: set[str] = set()

    def _stamp(self, frames: list[dict[str, Any]], seq: int) -> list[tuple[int, dict[str, Any]]]:
        stamped = []
        for n, frame in enumerate(frames):
            frame["event_id"] = event_id(self.run_id, seq, n)
            frame["thread_id"] = self.thread_id
            frame["run_id"] = self.run_id
            stamped.append((n, frame))
        return stamped

    def user_message(self, content: str, user_id: str | None) -> list[tuple[int, dict[str, Any]]]:
        return self._stamp([{"type": "user_message", "content": content, "user_id": user_id}], 0)

    def translate(self, event: Event, *, status: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Frames of one event as (n, frame); `status` is the run's final status (for `end`)."""
        base, _, namespace = event.event.partition("|")
        mode = base.split("/", 1)[0]
        if base == "end":
            return self._stamp([{"type": "message_complete", "status": status or "success"}], event.seq)
        if base == "error":
            data = orjson.loads(event.data)
            message = data.get("message") if isinstance(data, dict) else None
            error = data.get("error") if isinstance(data, dict) else None
            frame = {"type": "error", "code": "run_failed", "message": str(message or error or "the run failed")}
            return self._stamp([frame], event.seq)
        if base == "messages":  # messages-tuple: [message, metadata]
            return self._stamp(list(self._tokens(orjson.loads(event.data))), event.seq)
        if mode == "updates":
            return self._stamp(list(self._updates(orjson.loads(event.data), namespace)), event.seq)
        if mode == "custom":
            data = orjson.loads(event.data)
            if isinstance(data, dict) and data.get("type") == "interrupt_expired":  # written by the tool gate
                expired = {
                    "type": "interrupt_expired",
                    "action": str(data.get("action")),
                    "message": str(data.get("message")),
                    "approval_id": data.get("approval_id"),
                }
                return self._stamp([expired], event.seq)
            if isinstance(data, dict) and data.get("type") == "clarification":  # the support supervisor asks
                return self._stamp([{"type": "clarification", "message": str(data.get("message") or "")}], event.seq)
            if isinstance(data, dict) and data.get("type") == "handoff":  # the support supervisor routes
                handoff = {"type": "handoff", "agent": str(data.get("agent")), "intent": data.get("intent")}
                return self._stamp([handoff], event.seq)
            return self._stamp([{"type": "custom", "data": data}], event.seq)
        return []

    @staticmethod
    def _tokens(data: Any) -> Iterator[dict[str, Any]]:
        if not isinstance(data, list) or len(data) != 2 or not isinstance(data[0], dict):
            return
        message, metadata = data
        if message.get("type") not in AI_TYPES:
            return
        content = text_of(message.get("content"))
        if content:
            metadata = metadata if isinstance(metadata, dict) else {}
            agent = metadata.get("lc_agent_name") or metadata.get("langgraph_node")
            yield {"type": "token", "agent": agent, "content": content}

    def _updates(self, data: Any, namespace: str) -> Iterator[dict[str, Any]]:
        if not isinstance(data, dict):
            return
        for node, update in data.items():
            if node == "__interrupt__":
                yield from self._interrupt_frames(update)
                continue
            agent = node if not namespace else namespace.split(":", 1)[0]
            for message in _messages_of(update):
                kind = message.get("type")
                if kind in AI_TYPES:
                    for call in message.get("tool_calls") or []:
                        call_id = call.get("id")
                        if call_id and call_id in self._tool_calls:
                            continue
                        if call_id:
                            self._tool_calls.add(call_id)
                        args = call.get("args") if isinstance(call.get("args"), dict) else {}
                        yield {"type": "tool_call", "agent": agent, "tool": str(call.get("name")), "args": args,
                               "id": call_id}  # fmt: skip
                elif kind == "tool":
                    call_id = message.get("tool_call_id")
                    if call_id and call_id in self._tool_results:
                        continue
                    if call_id:
                        self._tool_results.add(call_id)
                    yield {
                        "type": "tool_result",
                        "agent": agent,
                        "tool": message.get("name"),
                        "result": message.get("content"),
                        "id": call_id,
                    }

    def _interrupt_frames(self, interrupts: Any) -> Iterator[dict[str, Any]]:
        for item in interrupts if isinstance(interrupts, list) else [interrupts]:
            if not isinstance(item, dict):
                continue
            interrupt_id = item.get("id")
            key = str(interrupt_id)
            if interrupt_id and key in self._interrupts:
                continue
            self._interrupts.add(key)
            yield from interrupt_frame(item.get("value"), interrupt_id)

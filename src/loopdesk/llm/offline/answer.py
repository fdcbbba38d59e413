"""Replies without a tool call: what the tool results say, and chit-chat naming what the tools can do."""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from loopdesk.llm.offline.profile import _Tool

PREFIX = "(offline model) "
_FIELDS = 20


def _chat(text: str, tools: list[_Tool]) -> str:
    greeting = ""
    if re.search(r"\b(thanks|thank you|cheers)\b|谢谢", text, re.I):
        greeting = "You're welcome! "
    elif re.search(r"\b(bye|goodbye)\b|再见", text, re.I):
        greeting = "Goodbye! "
    elif re.match(r"\W*(hi|hello|hey|good (morning|afternoon|evening))\b|你好|您好", text, re.I):
        greeting = "Hello! "
    if greeting in ("You're welcome! ", "Goodbye! "):
        return PREFIX + greeting.strip()
    if not tools:
        return (
            f"{PREFIX}{greeting}No language model is configured (set LOOPDESK_LLM_PROVIDER and LOOPDESK_LLM_MODEL) "
            "and no tools are available, so I cannot answer that."
        )
    listed = "; ".join(tool.summary for tool in tools[:8]) + (f"; and {len(tools) - 8} more" if len(tools) > 8 else "")
    return (
        f"{PREFIX}{greeting}No language model is configured, so I only act on requests that match one of my tools: "
        f"{listed}. Tell me what you need with the details (ids, emails, amounts)."
    )


def _clip(text: str, size: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


def _label(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("title", "name", "label", "summary", "id"):
            if key in value and not isinstance(value[key], dict | list):
                return str(value[key])
        scalars = [f"{k}: {_scalar(v)}" for k, v in value.items() if not isinstance(v, dict | list)]
        return ", ".join(scalars[:3]) or f"{len(value)} fields"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, list):
        if len(value) <= 3 and all(not isinstance(v, dict | list) for v in value):
            return ", ".join(map(_scalar, value)) or "none"
        return f"{len(value)} items"
    if isinstance(value, dict):
        return f"{len(value)} fields"
    return _clip(str(value), 120)


def _describe(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), dict):
        value = next(iter(value.values()))  # {"order": {...}}: what the wrapper holds
    if isinstance(value, dict):
        # Set values first (a tracking number says more than "3 items"), empty ones left out, up to 20 fields.
        items = sorted(
            ((k, v) for k, v in value.items() if v not in (None, "", [], {})),
            key=lambda item: isinstance(item[1], dict | list),
        )
        parts = [f"{str(k).replace('_', ' ')}: {_scalar(v)}" for k, v in items[:_FIELDS]]
        more = f" (and {len(items) - _FIELDS} more fields)" if len(items) > _FIELDS else ""
        return "; ".join(parts) + more if parts else "nothing"
    if isinstance(value, list):
        if not value:
            return "no results"
        shown = "; ".join(_label(v) for v in value[:3])
        return f"{len(value)} result{'s' if len(value) != 1 else ''}: {shown}" + ("; …" if len(value) > 3 else "")
    return _scalar(value)


def _answer_results(messages: list[BaseMessage], results: list[ToolMessage]) -> str:
    names = {call["id"]: call["name"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    lines = []
    for result in results:
        name = result.name or names.get(result.tool_call_id) or "the tool"
        text = result.text.strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        error = isinstance(value, dict) and set(value) <= {"error", "detail", "message", "status"} and "error" in value
        if result.status == "error" or error or re.match(r"error\b", text, re.IGNORECASE):
            detail = str(value.get("error") if isinstance(value, dict) else text)
            detail = re.sub(r"^error\b\W*", "", detail, flags=re.IGNORECASE) or "no details"
            lines.append(f"{name} failed: {_clip(detail)}" + ("" if detail.endswith((".", "…")) else "."))
        elif value in ("", None, [], {}):
            lines.append(f"{name} returned nothing.")
        else:
            described = _describe(value)
            lines.append(f"{name} returned: {described}" + ("" if described.endswith((".", "…")) else "."))
    return PREFIX + " ".join(lines)

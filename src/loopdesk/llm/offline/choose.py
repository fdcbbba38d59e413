"""Choosing a tool: the message's concepts scored against each profile (idf-weighted), then how many of the
required arguments the message fills."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loopdesk.llm.offline.extract import _extract
from loopdesk.llm.offline.profile import _named, _Prop, _Tool
from loopdesk.llm.offline.words import (
    _ACTIONS,
    _CODE_ID,
    _DATE,
    _DATETIME,
    _EMAIL,
    _MONEY,
    _QUOTED,
    _URL,
    _UUID,
    _blank,
    _search_pattern,
    _spans,
    _tokenize,
)

THRESHOLD = 2.0
_ACTION_FACTOR = 0.4
_FILL_BONUS = 1.5


def _named_spans(text: str, tools: list[_Tool]) -> list[tuple[int, int]]:
    """`name: value` pairs of any bound tool's property: data and its label, not words to choose a tool by."""
    spans = []
    for tool in tools:
        for prop in tool.props:
            if found := _named(text, prop):
                spans.append((found[2], found[1][1]))
    return spans


def _message_keys(text: str, tools: list[_Tool]) -> set[str]:
    masked = [*_spans(_QUOTED, text), *_spans(_EMAIL, text), *_spans(_URL, text), *_spans(_UUID, text)]
    masked += [*_spans(_MONEY, text), *_spans(_CODE_ID, text), *_named_spans(text, tools)]
    keys = {key for token in _tokenize(_blank(text, masked)) for key in token.keys}
    for kind, pattern in (("email", _EMAIL), ("url", _URL), ("uuid", _UUID), ("date", _DATE), ("datetime", _DATETIME)):
        if pattern.search(text):
            keys.add(f"type:{kind}")
    for tool in tools:
        for prop in tool.props:
            pattern = prop.schema.get("pattern")
            if pattern and _search_pattern(pattern, text):
                keys.add(f"pattern:{pattern}")
    return keys


def _scores(text: str, tools: list[_Tool]) -> list[tuple[float, float]]:
    """(score, score without action verbs) per tool: concept matches weighted by how rare they are among tools."""
    keys = _message_keys(text, tools)
    count = len(tools)
    frequency: dict[str, int] = {}
    for tool in tools:
        for key in tool.weights:
            frequency[key] = frequency.get(key, 0) + 1
    results = []
    for tool in tools:
        total = specific = 0.0
        for key in keys & tool.weights.keys():
            value = tool.weights[key] * (1 + math.log(count / frequency[key]))
            if key in _ACTIONS:
                total += value * _ACTION_FACTOR
            else:
                total += value
                specific += value
        results.append((total, specific))
    return results


def _forced(tool_choice: Any, tools: list[_Tool]) -> _Tool | str | None:
    if isinstance(tool_choice, dict):
        tool_choice = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    if tool_choice in ("none", False):
        return "none"
    if tool_choice in ("any", "required", True):
        return "any"
    return next((tool for tool in tools if tool.name == tool_choice), None)


@dataclass
class _Choice:
    tool: _Tool
    args: dict[str, Any]
    missing: list[_Prop]


def _choose(text: str, tools: list[_Tool], tool_choice: Any = None) -> _Choice | None:
    forced = _forced(tool_choice, tools)
    if forced == "none" or not tools:
        return None
    if isinstance(forced, _Tool):
        return _Choice(forced, *_extract(text, forced))
    best: tuple[float, int, _Choice] | None = None
    for index, (tool, (total, specific)) in enumerate(zip(tools, _scores(text, tools), strict=True)):
        if specific < THRESHOLD and forced != "any":
            continue
        args, missing = _extract(text, tool)
        filled = 1.0 - len(missing) / len(tool.required) if tool.required else 1.0
        ranked = (total + _FILL_BONUS * filled, -index, _Choice(tool, args, missing))
        if best is None or ranked[:2] > best[:2]:
            best = ranked
    return best[2] if best else None

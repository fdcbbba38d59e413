"""`OfflineChatModel`: per turn, an answer from tool results, a tool call, or a question for missing arguments.
The question is carried in the reply's `additional_kwargs`, so the next turn can fill what it asked for."""

from __future__ import annotations

import re
import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from loopdesk.llm.offline.answer import PREFIX, _answer_results, _chat
from loopdesk.llm.offline.choose import _choose
from loopdesk.llm.offline.extract import _extract
from loopdesk.llm.offline.profile import _profile, _Prop, _Tool
from loopdesk.llm.scripted import LocalChatModel

PENDING_KEY = "offline_pending"
_SMALL_TALK = re.compile(
    r"^\W*((hi|hello|hey|yo|hiya)( there| all| everyone)?|what'?s up|sup|thanks?( you)?( very much| a lot)?|cheers|"
    r"bye|goodbye|good (morning|afternoon|evening|night)|ok(ay)?|cool|great|nice|你好|您好|谢谢|再见|好的)\W*$",
    re.IGNORECASE,
)
_DISMISS = re.compile(
    r"^\W*(never ?mind|forget it|cancel( that| it)?|stop|no thanks|nothing|算了|不用了|取消)\W*$", re.I
)


def _call(tool: _Tool, args: dict[str, Any]) -> AIMessage:
    call_id = f"call_{uuid.uuid4().hex}"
    call = {"name": tool.name, "args": tool.arguments(args), "id": call_id, "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


def _ask(tool: _Tool, args: dict[str, Any], missing: list[_Prop], *, again: bool = False) -> AIMessage:
    labels = [p.label for p in missing]
    needed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    lead = "I still need" if again else f"To run {tool.name} I need"
    content = f"{PREFIX}{lead} {needed}. Please provide {'it' if len(labels) == 1 else 'them'}."
    pending = {"tool": tool.name, "args": args, "missing": [p.name for p in missing]}
    return AIMessage(content=content, additional_kwargs={PENDING_KEY: pending})


class OfflineChatModel(LocalChatModel):
    """No network, no model weights: tool matching and schema-driven argument extraction, honestly labelled."""

    @property
    def _llm_type(self) -> str:
        return "offline"

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        results: list[ToolMessage] = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            results.insert(0, message)
        if results:
            return AIMessage(content=_answer_results(messages, results))
        if not messages or not isinstance(messages[-1], HumanMessage):
            return AIMessage(content=f"{PREFIX}Send me a message and I will see which tool can handle it.")
        text = messages[-1].text.strip()
        profiles = [_profile(tool) for tool in tools]
        if not text:
            return AIMessage(content=_chat(text, profiles))
        pending = _pending(messages)
        if pending is not None:
            reply = self._continue(text, pending, profiles)
            if reply is not None:
                return reply
        if _SMALL_TALK.match(text):
            return AIMessage(content=_chat(text, profiles))
        choice = _choose(text, profiles, self.tool_choice)
        if choice is None:
            return AIMessage(content=_chat(text, profiles))
        if choice.missing:
            return _ask(choice.tool, choice.args, choice.missing)
        return _call(choice.tool, choice.args)

    def _continue(self, text: str, pending: dict[str, Any], tools: list[_Tool]) -> AIMessage | None:
        """The user answers our question: fill what was missing, unless they asked for something else."""
        tool = next((t for t in tools if t.name == pending.get("tool")), None)
        if tool is None:
            return None
        if _DISMISS.match(text):
            return AIMessage(content=f"{PREFIX}OK, I won't run {tool.name}.")
        known = dict(pending.get("args") or {})
        wanted = [p.name for p in tool.required if p.name not in known]
        partial = _Tool(tool.name, tool.description, [p for p in tool.props if p.name not in known], tool.weights)
        partial.triggers = tool.triggers
        found, _ = _extract(text, partial, answering=wanted)
        # An answer that gives everything asked for is an answer, even if its words suit another tool too.
        if not set(wanted) <= set(found):
            fresh = _choose(text, tools, self.tool_choice)
            if fresh is not None and fresh.tool.name != tool.name:
                return None
        if not found:
            return _ask(tool, known, [p for p in tool.required if p.name in wanted], again=True)
        args = {**known, **found}
        missing = [p for p in tool.required if p.name not in args]
        return _ask(tool, args, missing, again=True) if missing else _call(tool, args)


def _pending(messages: list[BaseMessage]) -> dict[str, Any] | None:
    if len(messages) < 2 or not isinstance(messages[-2], AIMessage):
        return None
    pending = messages[-2].additional_kwargs.get(PENDING_KEY)
    return pending if isinstance(pending, dict) else None

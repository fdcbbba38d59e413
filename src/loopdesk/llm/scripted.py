"""A chat model that plays a YAML script: deterministic agents for tests and demos."""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import re2
import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loopdesk.llm.errors import LLMConfigError

CLOSING = "(scripted model) The script has no more turns: this is its fixed closing message."
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _pattern(expression: str) -> Any:
    """`expect` runs in RE2 (linear time): a pattern from a script can never stall the process that plays it."""
    return re2.compile(expression, _RE2_OPTIONS)


_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\s\u3400-\u4dbf\u4e00-\u9fff]+")


def count_words(text: str) -> int:
    """The token count the local models report: words, and each Chinese character."""
    return len(_WORD.findall(text))


class LocalChatModel(BaseChatModel):
    """Base of the models that answer without a network: one reply from the messages, streamed word by word."""

    handles_retries: ClassVar[bool] = True  # no network: nothing could succeed on a second try
    tools: list[dict[str, Any]] = Field(default_factory=list, description="bound tools as OpenAI tool schemas")
    tool_choice: Any = None

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> LocalChatModel:
        schemas = [convert_to_openai_tool(tool) for tool in tools]
        return self.model_copy(update={"tools": schemas, "tool_choice": tool_choice})

    @abstractmethod
    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        """Content, tool calls and additional_kwargs of the answer; usage and metadata are added here."""

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(ls_provider=self._llm_type, ls_model_name=self._llm_type, ls_model_type="chat")

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        extra = kwargs.get("tools")
        tools = [convert_to_openai_tool(tool) for tool in extra] if extra else self.tools
        reply = self._reply(messages, tools)
        spoken = reply.text + "".join(call["name"] + json.dumps(call["args"]) for call in reply.tool_calls)
        inputs = sum(count_words(message.text) for message in messages)
        outputs = count_words(spoken)
        return reply.model_copy(
            update={
                "usage_metadata": {"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs},
                "response_metadata": {
                    "model_name": self._llm_type,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                },
            }
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        answer = self._answer(messages, kwargs)
        for piece in re.findall(r"\S+\s*|\s+", answer.text):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if answer.tool_calls:
            chunks = [
                tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index)
                for index, call in enumerate(answer.tool_calls)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                additional_kwargs=answer.additional_kwargs,
                usage_metadata=answer.usage_metadata,
                response_metadata=answer.response_metadata,
                chunk_position="last",
            )
        )


class ScriptToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class ScriptTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = ""
    tool_calls: list[ScriptToolCall] = Field(default_factory=list)
    expect: str | None = Field(None, description="regex (RE2 syntax) the last human message must match")
    rogue: bool = Field(False, description="call tools even when they are not bound (a model misbehaving, for tests)")

    @field_validator("expect")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _pattern(value)
            except re2.error as exc:
                reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise ValueError(f"`expect` is not a valid regular expression: {reason}") from None
        return value

    @model_validator(mode="after")
    def _says_something(self) -> ScriptTurn:
        if not self.content and not self.tool_calls:
            raise ValueError("a turn needs `content` or `tool_calls`")
        return self


class ScriptMismatchError(RuntimeError):
    """The conversation left the script: a turn's `expect` failed, or it calls a tool that is not bound."""


class ScriptedChatModel(LocalChatModel):
    """Plays turn N where N = AI messages already in the input, so a resumed thread continues the script."""

    turns: list[ScriptTurn]
    closing: str = CLOSING
    source: str = "inline"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @classmethod
    def load(cls, script: str | PathLike[str] | list[Any] | dict[str, Any]) -> ScriptedChatModel:
        """From a YAML file, YAML text, a list of turns or `{turns: [...]}`."""
        source = "inline"
        data: Any = script
        if isinstance(script, PathLike) or (isinstance(script, str) and _looks_like_path(script)):
            path = Path(script)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise LLMConfigError(f"cannot read the model script {path}: {exc.strerror}") from exc
            except yaml.YAMLError as exc:
                raise LLMConfigError(f"the model script {path} is not valid YAML: {exc}") from exc
            source = str(path)
        elif isinstance(script, str):
            try:
                data = yaml.safe_load(script)
            except yaml.YAMLError as exc:
                raise LLMConfigError(f"the model script is not valid YAML: {exc}") from exc
        if isinstance(data, dict) and set(data) <= {"turns", "closing"}:
            options = {"closing": data["closing"]} if "closing" in data else {}
            data = data.get("turns")
        else:
            options = {}
        if not isinstance(data, list) or not data:
            raise LLMConfigError("a model script is {turns: [{content: ...} | {tool_calls: [...]}, ...]}")
        try:
            return cls(turns=data, source=source, **options)
        except ValidationError as exc:
            raise LLMConfigError(f"invalid model script {source}: {exc}") from exc

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        index = sum(isinstance(message, AIMessage) for message in messages)
        if index >= len(self.turns):
            return AIMessage(content=self.closing)
        turn = self.turns[index]
        if turn.expect is not None:
            said = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), None)
            if said is None or not _pattern(turn.expect).search(said):
                raise ScriptMismatchError(
                    f"script turn {index + 1} expects a user message matching {turn.expect!r}, got {said!r}"
                )
        bound = {tool["function"]["name"] for tool in tools}
        calls = []
        for position, call in enumerate(turn.tool_calls):
            if bound and call.name not in bound and not turn.rogue:
                raise ScriptMismatchError(
                    f"script turn {index + 1} calls {call.name!r}, but the bound tools are {sorted(bound)}"
                )
            # Deterministic ids: the same thread replays identically in any process.
            call_id = call.id or f"call_scripted_{index}_{position}"
            calls.append({"name": call.name, "args": call.args, "id": call_id, "type": "tool_call"})
        return AIMessage(content=turn.content, tool_calls=calls)


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    return text.strip().endswith((".yaml", ".yml", ".json")) or Path(text).is_file()

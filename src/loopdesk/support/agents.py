"""The support agents a supervisor routes to, declared in YAML; checked before anything runs.

```yaml
supervisor:
  model: null                  # a named model (LOOPDESK_LLM_MODELS) that reads intents; null: the trained model
  intents_model: ecommerce     # a model `loopdesk intents train` wrote (a name under <data dir>/intents, or a path)
  clarification: {en: "...", zh: "..."}
  out_of_scope: {en: "...", zh: "..."}
  escalate_intents: [human_agent]   # intents handed to a person at once
  escalate_out_of_scope: false
  approver: staff              # who approves a write: staff (the default) or any (the customer too)
agents:
  - name: orders
    description: Looks orders up.
    intents: [order_status]
    tools: [getOrder, "openapi:shop/list*"]   # names or globs
    permission: read                          # read agents are given read tools only (the registry refuses)
    prompt: You answer questions about orders.
    model: null                               # a named model; null: the configured default
    limits:                                   # checked before a call reaches the approval gate
      createRefund: {amount: {max: 200}}
```

Every problem is reported with the file and line it comes from (`AgentsConfigError`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loopdesk.tools.base import ToolPermissionError
from loopdesk.tools.registry import ToolRegistry

Language = Literal["en", "zh"]
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

DEFAULT_CLARIFICATION = {
    "en": "Could you tell me a little more about what you would like me to do?",
    "zh": "能再具体说一下您希望我为您做什么吗？",
}
DEFAULT_OUT_OF_SCOPE = {
    "en": "Sorry, that is not something I can help with here. I can help with the services this desk supports.",
    "zh": "抱歉，这个问题我无法在这里处理。我可以帮您处理本服务支持的业务。",
}


def language_of(text: str) -> Language:
    return "zh" if _HAN.search(text or "") else "en"


class Localized(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str = Field(min_length=1, max_length=2000)
    zh: str = Field(min_length=1, max_length=2000)

    def get(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


class Limit(BaseModel):
    """Bounds of one numeric argument; a call outside them is refused and handed to a person."""

    model_config = ConfigDict(extra="forbid")
    max: float | None = None
    min: float | None = None


class AgentDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = Field(min_length=1, max_length=1000)
    intents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    permission: Literal["read", "write"] = "read"
    prompt: str = Field("", max_length=20_000)
    model: str | None = None
    limits: dict[str, dict[str, Limit]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("an agent name is 1-40 characters: a-z first, then a-z 0-9 _ -")
        return value


class SupervisorDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    intents_model: str | None = None
    clarification: Localized = Field(default_factory=lambda: Localized(**DEFAULT_CLARIFICATION))
    out_of_scope: Localized = Field(default_factory=lambda: Localized(**DEFAULT_OUT_OF_SCOPE))
    escalate_intents: list[str] = Field(default_factory=list)
    escalate_out_of_scope: bool = False
    approver: Literal["staff", "any"] = "staff"


class AgentSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supervisor: SupervisorDef = Field(default_factory=SupervisorDef)
    agents: list[AgentDef] = Field(min_length=1, max_length=50)

    def agent(self, name: str) -> AgentDef | None:
        return next((a for a in self.agents if a.name == name), None)

    def agent_for(self, intent: str | None) -> AgentDef | None:
        """The agent an intent goes to; with no intents declared anywhere, the first agent takes every turn."""
        if intent is not None:
            for agent in self.agents:
                if intent in agent.intents:
                    return agent
        if not any(a.intents for a in self.agents):
            return self.agents[0]
        return None

    @property
    def routes_by_intent(self) -> bool:
        return any(a.intents for a in self.agents)


DEFAULT_DOCUMENT = """\
# The built-in support set: one agent with every tool (writes still wait for an approval).
# Replace it with `loopdesk templates apply NAME` or PUT /api/v1/support/agents.
agents:
  - name: assistant
    description: Answers questions and uses the desk's tools.
    tools: ["*"]
    permission: write
    prompt: >-
      You are the support assistant. Answer clearly and briefly. Use a tool when it can answer better than you can;
      write actions wait for a person's approval, and the tool result says so. Never invent a tool result.
"""


@dataclass
class AgentsConfigError(Exception):
    source: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.source} line {self.line}" if self.line else self.source
        return f"{where}: {self.problem}"


def _lines(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """The (1-based) line of every key and item, by its path in the document."""
    found: dict[tuple[Any, ...], int] = {}
    if node is None:
        return found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            found[child] = key.start_mark.line + 1
            for sub, line in _lines(value, child).items():
                found.setdefault(sub, line)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            for sub, line in _lines(item, (*path, index)).items():
                found.setdefault(sub, line)
    return found


def _line_of(lines: Mapping[tuple[Any, ...], int], path: Iterable[Any]) -> int | None:
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _where(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def parse_agents(
    document: str,
    source: str,
    *,
    registry: ToolRegistry | None = None,
    named_models: Iterable[str] | None = None,
) -> AgentSet:
    """The agent set a YAML document declares, or AgentsConfigError naming the source and line. With `registry`,
    every tool named without a glob must exist, and a read agent may not name a tool that writes; with
    `named_models`, every model must be one of them."""
    try:
        node = yaml.compose(document, Loader=yaml.SafeLoader)
        data = yaml.safe_load(document)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise AgentsConfigError(source, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    lines = _lines(node)
    if not isinstance(data, dict):
        raise AgentsConfigError(source, 1, "the document must be a mapping with an `agents` list")
    try:
        agents = AgentSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        raise AgentsConfigError(source, _line_of(lines, loc), f"{_where(loc)}: {first['msg']}") from None
    _check(agents, source, lines, registry, None if named_models is None else set(named_models))
    return agents


def _check(
    agents: AgentSet,
    source: str,
    lines: Mapping[tuple[Any, ...], int],
    registry: ToolRegistry | None,
    models: set[str] | None,
) -> None:
    def fail(path: tuple[Any, ...], problem: str) -> None:
        raise AgentsConfigError(source, _line_of(lines, path), problem)

    seen: dict[str, int] = {}
    owner: dict[str, str] = {}
    escalated = set(agents.supervisor.escalate_intents)
    if models is not None and agents.supervisor.model is not None and agents.supervisor.model not in models:
        fail(
            ("supervisor", "model"),
            f"supervisor.model: unknown named model {agents.supervisor.model!r}"
            f" (defined: {', '.join(sorted(models)) or 'none'})",
        )
    for index, agent in enumerate(agents.agents):
        at = ("agents", index)
        if agent.name in seen:
            fail((*at, "name"), f"duplicate agent name {agent.name!r} (first at agents[{seen[agent.name]}])")
        seen[agent.name] = index
        if models is not None and agent.model is not None and agent.model not in models:
            fail(
                (*at, "model"),
                f"agents[{index}].model: unknown named model {agent.model!r}"
                f" (defined: {', '.join(sorted(models)) or 'none'})",
            )
        for position, intent in enumerate(agent.intents):
            if intent in owner:
                fail(
                    (*at, "intents", position),
                    f"intent {intent!r} is routed to both {owner[intent]!r} and {agent.name!r}",
                )
            if intent in escalated:
                fail((*at, "intents", position), f"intent {intent!r} is in supervisor.escalate_intents too")
            owner[intent] = agent.name
        if registry is None:
            continue
        for position, selector in enumerate(agent.tools):
            exact = ":" not in selector and not any(ch in selector for ch in "*?[")
            if exact and registry.spec(selector) is None:
                fail((*at, "tools", position), f"agents[{index}] ({agent.name}): unknown tool {selector!r}")
        try:
            registry.bind(agent.tools, permission=agent.permission)
        except ToolPermissionError as exc:
            position = next((i for i, s in enumerate(agent.tools) if s == str(exc).split(" ", 1)[0]), None)
            path = (*at, "tools", position) if position is not None else (*at, "tools")
            fail(path, f"agents[{index}] ({agent.name}) has permission read: {exc}")
        for tool in agent.limits:
            if registry.spec(tool) is None:
                fail((*at, "limits", tool), f"agents[{index}] ({agent.name}).limits: unknown tool {tool!r}")

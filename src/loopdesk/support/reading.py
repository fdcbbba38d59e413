"""What a customer's message asks for, before any agent acts: one request, several (handled in order), an
ambiguous one (one clarifying question), or one out of scope (a polite refusal, never a made-up action).

With a named model on the supervisor: the LLM's structured output. Without one: the intent model the template
trained (`loopdesk intents train`). With neither: every message goes to the first agent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from loopdesk.core.settings import Settings
from loopdesk.llm.factory import build_chat_model
from loopdesk.support.agents import AgentSet
from loopdesk.tools.net import OutboundPolicy

log = structlog.get_logger("loopdesk.support.reading")

Kind = Literal["single", "multi", "ambiguous", "oos"]
AMBIGUOUS = "ambiguous"
OUT_OF_SCOPE = "oos"


@dataclass
class Step:
    """One request of the message, and the agent (or the escalation) that takes it."""

    request: str
    intent: str | None
    agent: str | None = None  # None: hand to a person (an escalate intent)
    confidence: float | None = None

    def as_state(self) -> dict[str, Any]:
        return {"request": self.request, "intent": self.intent, "agent": self.agent, "confidence": self.confidence}


@dataclass
class Reading:
    kind: Kind
    steps: list[Step] = field(default_factory=list)
    source: Literal["llm", "model", "none"] = "none"

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "steps": [s.as_state() for s in self.steps]}


class _Request(BaseModel):
    intent: str = Field(description="one of the listed intents")
    text: str = Field(description="the words of the message that ask for it")


class IntentDecision(BaseModel):
    """How to read the customer's last message."""

    kind: Kind = Field(description="single, multi (several requests), ambiguous (unclear what they want) or oos")
    requests: list[_Request] = Field(default_factory=list, description="the requests in the order they were made")


_models: dict[Path, tuple[float, Any]] = {}


def intents_dir(name: str, settings: Settings) -> Path:
    path = Path(name)
    return path if path.is_absolute() else settings.database.data_dir / "intents" / name


def _load_model(path: Path) -> Any:
    from loopdesk.support.intents.model import IntentModel

    stamp = max((p.stat().st_mtime for p in path.iterdir()), default=0.0) if path.is_dir() else 0.0
    cached = _models.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    model = IntentModel.load(path)
    _models[path] = (stamp, model)
    return model


async def read_turn(agents: AgentSet, text: str, settings: Settings, config: RunnableConfig) -> Reading:
    supervisor = agents.supervisor
    if not agents.routes_by_intent and not supervisor.escalate_intents:
        return Reading("single", [Step(text, None, agents.agents[0].name)])
    if supervisor.model is not None:
        return await _read_with_llm(agents, text, settings, config)
    if supervisor.intents_model is not None:
        path = intents_dir(supervisor.intents_model, settings)
        try:
            model = await asyncio.to_thread(_load_model, path)
        except Exception as exc:  # noqa: BLE001 - a missing or broken model: route to the first agent, say so
            log.error("support.intents_model_unavailable", path=str(path), error=str(exc))
            return Reading("single", [Step(text, None, agents.agents[0].name)])
        return _from_model(agents, await asyncio.to_thread(_read_message, model, text))
    return Reading("single", [Step(text, None, agents.agents[0].name)])


def _read_message(model: Any, text: str) -> Any:
    from loopdesk.support.intents.reading import read_message

    return read_message(model, text)


def _step(agents: AgentSet, request: str, intent: str, confidence: float | None) -> Step | None:
    if intent in agents.supervisor.escalate_intents:
        return Step(request, intent, None, confidence)
    agent = agents.agent_for(intent)
    return Step(request, intent, agent.name, confidence) if agent is not None else None


def _from_model(agents: AgentSet, reading: Any) -> Reading:
    if reading.kind == "ambiguous":
        return Reading("ambiguous", source="model")
    steps = []
    for segment, prediction in reading.parts:
        if prediction.intent in (OUT_OF_SCOPE, AMBIGUOUS):
            continue
        step = _step(agents, segment, prediction.intent, float(prediction.confidence))
        if step is not None:
            steps.append(step)
    if not steps:
        return Reading("oos", source="model")
    return Reading("multi" if len(steps) > 1 else "single", steps, source="model")


async def _read_with_llm(agents: AgentSet, text: str, settings: Settings, config: RunnableConfig) -> Reading:
    known = {intent: agent.description for agent in agents.agents for intent in agent.intents}
    known.update({intent: "the customer wants a person" for intent in agents.supervisor.escalate_intents})
    listing = "\n".join(f"- {intent}: {about}" for intent, about in known.items())
    policy = OutboundPolicy.from_allowlist(settings.outbound.allowlist)
    model = build_chat_model(agents.supervisor.model, settings.llm, policy=policy)
    prompt = (
        "You read a support customer's message and say what it asks for. Intents:\n" + listing + "\n"
        "kind: single (one request), multi (several, in the order asked), ambiguous (you cannot tell which intent: "
        "the desk will ask one question), oos (none of the intents). Use only the listed intents."
    )
    try:
        decision = await model.with_structured_output(IntentDecision).ainvoke(
            [SystemMessage(prompt), ("human", text)], config
        )
    except Exception as exc:  # noqa: BLE001 - the model failed or answered out of schema: ask, never guess an action
        log.warning("support.intent_llm_failed", error=type(exc).__name__)
        return Reading("ambiguous", source="llm")
    if not isinstance(decision, IntentDecision):
        decision = IntentDecision.model_validate(decision)
    if decision.kind == "ambiguous":
        return Reading("ambiguous", source="llm")
    steps = [s for r in decision.requests if r.intent in known and (s := _step(agents, r.text or text, r.intent, None))]
    if decision.kind == "oos" or not steps:
        return Reading("oos", source="llm")
    return Reading("multi" if len(steps) > 1 else "single", steps, source="llm")

"""The support supervisor (`support`): each customer turn is read for intents, then handed, request by request,
to the agents the YAML declares (support/agents.py). Each agent is a tool-calling loop over the tools it is bound
to (a read agent gets read tools only: the registry refuses the others, and the gate refuses any call outside the
binding); writes wait for an approval (tools/gate.py); numeric limits are checked before a call reaches the gate,
and a call beyond them is refused and handed to a person. A conversation a staff member took over gets no bot
reply: the customer's messages go to that person, whose replies reach the customer in the same stream.

Every step writes the support event stream (support/conversations) in the transaction that records it."""

from __future__ import annotations

from typing import Any, NotRequired

import structlog
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph

from loopdesk.agent.graph import tool_rounds
from loopdesk.agent.usage import add_usage
from loopdesk.llm.factory import build_chat_model
from loopdesk.llm.usage import UsageRecorder
from loopdesk.support import escalation, events
from loopdesk.support.agents import AgentDef, AgentSet, language_of
from loopdesk.support.config import current_agents
from loopdesk.support.reading import read_turn
from loopdesk.tools import runtime as tool_runtime
from loopdesk.tools.base import ToolPermissionError, ToolSpec
from loopdesk.tools.gate import Caller, ToolGate, close_unanswered
from loopdesk.tools.net import OutboundPolicy

log = structlog.get_logger("loopdesk.support.graph")

GRAPH_ID = "support"
SUPERVISOR = "supervisor"
STAFF = "staff"
MAX_TOOL_ROUNDS = 8
CALLER_SETTINGS = frozenset()

HANDED_OVER = {
    "en": "I have passed this to a colleague, who will get back to you here.",
    "zh": "我已将此问题转交给同事，他们会在这里回复您。",
}
REFUSED = {
    "en": "I can't do that: {reason}. I have passed your request to a colleague, who will get back to you here.",
    "zh": "抱歉，这个操作我无法执行：{reason}。我已将您的请求转交给同事，他们会在这里回复您。",
}
NOT_RUN = "Not run: another request of this turn was refused."


class SupportState(MessagesState):
    plan: NotRequired[list[dict[str, Any]]]  # the turn's requests still to handle
    step: NotRequired[dict[str, Any] | None]  # the request the active agent works on (+ where its messages start)
    staff_reply: NotRequired[dict[str, Any] | None]  # input only: {"event_id": N} written by the reply endpoint


def _as_tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
    }


def _emit(event: dict[str, Any]) -> None:
    try:
        get_stream_writer()(event)
    except RuntimeError:  # not inside a run
        pass


def _turn_message(messages: list[BaseMessage]) -> tuple[int, HumanMessage] | None:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index, messages[index]  # type: ignore[return-value]
    return None


def _say(text: str) -> AIMessage:
    return AIMessage(content=text, name=SUPERVISOR)


async def supervisor(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """Read the customer's message: reply (clarify, refuse, hand over) or plan the agents' work."""
    runtime = tool_runtime.current()
    caller = Caller.of(config)
    messages = state["messages"]
    last = messages[-1] if messages else None
    if not isinstance(last, HumanMessage):
        return {"plan": [], "step": None}
    text = last.text.strip()
    async with runtime.database.sessionmaker() as session, session.begin():
        status = await events.conversation_status(session, caller.thread_id)
        await events.record(session, caller, "message", data={"role": "user", "text": text[:4000]})
        if status == "human":  # a person has the conversation: they answer
            await escalation.tell_staff(session, caller.thread_id, text)
            return {"plan": [], "step": None}
    agents = await current_agents(runtime)
    reading = await read_turn(agents, text, runtime.settings, config)
    language = language_of(text)
    reply: AIMessage | None = None
    async with runtime.database.sessionmaker() as session, session.begin():
        for step in reading.steps or [None]:  # type: ignore[list-item]
            await events.record(session, caller, "intent", intent=step.intent if step else None, data=reading.summary())
        if reading.kind == "ambiguous":
            question = agents.supervisor.clarification.get(language)
            await events.record(session, caller, "clarification", agent=SUPERVISOR, data={"text": question})
            _emit({"type": "clarification", "message": question})
            reply = _say(question)
        elif reading.kind == "oos":
            refusal = agents.supervisor.out_of_scope.get(language)
            await events.record(session, caller, "refusal", agent=SUPERVISOR, data={"text": refusal, "reason": "oos"})
            if agents.supervisor.escalate_out_of_scope:
                await escalation.escalate(session, caller, reason="out of scope: " + text[:500], kind="out_of_scope")
            reply = _say(refusal)
        elif any(step.agent is None for step in reading.steps):
            wanted = next(step for step in reading.steps if step.agent is None)
            await escalation.escalate(session, caller, reason=f"asked for a person ({wanted.intent})", kind="requested")
            reply = _say(HANDED_OVER[language])
        if reply is not None:
            await events.record(
                session, caller, "message", agent=SUPERVISOR, data={"role": "assistant", "text": reply.text}
            )
            return {"messages": [reply], "plan": [], "step": None}
    return {"plan": [step.as_state() for step in reading.steps], "step": None}


async def route(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """Hand the next request to its agent."""
    runtime = tool_runtime.current()
    plan = list(state.get("plan") or [])
    step = {**plan.pop(0), "start": len(state["messages"])}
    async with runtime.database.sessionmaker() as session, session.begin():
        await events.record(
            session,
            Caller.of(config),
            "handoff",
            agent=step["agent"],
            intent=step.get("intent"),
            data={"request": step["request"][:1000]},
        )
    _emit({"type": "handoff", "agent": step["agent"], "intent": step.get("intent")})
    return {"plan": plan, "step": step}


def _view(state: SupportState) -> list[BaseMessage]:
    """What the active agent reads: the conversation before this turn, its own request, and its own work since."""
    messages = state["messages"]
    step = state.get("step") or {}
    found = _turn_message(messages[: step.get("start", len(messages))])
    if found is None:
        return list(messages)
    index, _ = found
    return [*messages[:index], HumanMessage(step.get("request") or ""), *messages[step.get("start", index + 1) :]]


def _bound(agent: AgentDef, runtime: Any) -> list[ToolSpec]:
    try:
        return runtime.registry.bind(agent.tools, permission=agent.permission)
    except ToolPermissionError as exc:  # the set was valid when stored; the tool changed since: no tools, say so
        log.error("support.binding_refused", agent=agent.name, error=str(exc))
        return [s for s in runtime.registry.select(agent.tools) if s.side_effect == "read"]


async def _chosen(state: SupportState, runtime: Any) -> tuple[AgentSet, AgentDef]:
    """The agent set in force and the agent the turn's current step went to."""
    agents = await current_agents(runtime)
    step = state.get("step") or {}
    return agents, agents.agent(str(step.get("agent"))) or agents.agents[0]


async def agent(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    runtime = tool_runtime.current()
    caller = Caller.of(config)
    agents, chosen = await _chosen(state, runtime)
    await runtime.fresh_registry()
    specs = _bound(chosen, runtime)
    outbound = OutboundPolicy.from_allowlist(runtime.settings.outbound.allowlist)
    model = build_chat_model(chosen.model, runtime.settings.llm, policy=outbound)
    view = _view(state)
    enough = tool_rounds(view) >= MAX_TOOL_ROUNDS
    bound: Any = model.bind_tools([_as_tool(s) for s in specs]) if specs and not enough else model
    conversation, unanswered = close_unanswered(view)
    if unanswered:  # the customer moved on while calls waited for approval: those calls will never run
        await ToolGate(runtime, caller, None).withdraw(unanswered)
    recorder = UsageRecorder(runtime.settings.llm.llm_prices)
    prompt = chosen.prompt or f"You are the {chosen.name} agent: {chosen.description}"
    response = await bound.with_config(callbacks=[recorder], metadata={"lc_agent_name": chosen.name}).ainvoke(
        [SystemMessage(prompt), *conversation], config
    )
    response.name = chosen.name
    async with runtime.database.sessionmaker() as session, session.begin():
        tokens, cost = add_usage(session, recorder, caller)
        if response.text or not response.tool_calls:
            await events.record(
                session,
                caller,
                "message",
                agent=chosen.name,
                tokens=tokens,
                cost=cost,
                data={"role": "assistant", "text": response.text[:4000]},
            )
        elif tokens or cost:
            await events.record(session, caller, "usage", agent=chosen.name, tokens=tokens, cost=cost)
    return {"messages": [response]}


def _argument(args: dict[str, Any], name: str) -> Any:
    """An argument by name, at the top or inside an object argument (an API's request body: `body.amount`)."""
    if name in args:
        return args[name]
    head, _, rest = name.partition(".")
    if rest and isinstance(args.get(head), dict):
        return _argument(args[head], rest)
    return next((v[name] for v in args.values() if isinstance(v, dict) and name in v), None)


def _violation(agent: AgentDef, call: dict[str, Any]) -> str | None:
    for argument, limit in (agent.limits.get(call["name"]) or {}).items():
        value = _argument(call.get("args") or {}, argument)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if limit.max is not None and value > limit.max:
            return f"{argument} {value:g} is above the limit of {limit.max:g} for {call['name']}"
        if limit.min is not None and value < limit.min:
            return f"{argument} {value:g} is below the limit of {limit.min:g} for {call['name']}"
    return None


async def tools(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    runtime = tool_runtime.current()
    caller = Caller.of(config)
    agents, chosen = await _chosen(state, runtime)
    last = state["messages"][-1]
    calls = list(getattr(last, "tool_calls", None) or [])
    registry = await runtime.fresh_registry()
    for call in calls:
        if (reason := _violation(chosen, call)) is None:
            continue
        turn = _turn_message(state["messages"])
        language = language_of(turn[1].text if turn else "")
        async with runtime.database.sessionmaker() as session, session.begin():
            await events.record(
                session,
                caller,
                "refusal",
                agent=chosen.name,
                tool=call["name"],
                data={"reason": reason, "args": call.get("args") or {}},
            )
            await escalation.escalate(session, caller, reason=f"refused by policy: {reason}", kind="policy")
            reply = _say(REFUSED[language].format(reason=reason))
            await events.record(
                session, caller, "message", agent=SUPERVISOR, data={"role": "assistant", "text": reply.text}
            )
        results = [
            ToolMessage(
                content=f"Refused: {reason}" if c is call else NOT_RUN,
                tool_call_id=c["id"],
                name=c["name"],
                status="error",
            )
            for c in calls
        ]
        return {"messages": [*results, reply], "plan": [], "step": None}
    allowed = {spec.name for spec in _bound(chosen, runtime)}
    gate = ToolGate(runtime, caller, allowed, approver=agents.supervisor.approver)
    results = await gate.run(calls)
    failed = await events.failed_writes(runtime.database, caller, [c["id"] for c in calls], registry)
    if failed:  # a defect met on the customer's behalf: people are told, and the feedback loop gets a bug report
        reason = f"{', '.join(failed)} failed"
        async with runtime.database.sessionmaker() as session, session.begin():
            task_id = await escalation.report_defect(session, runtime, caller, reason)
            await escalation.escalate(session, caller, reason=reason, kind="error", task_id=task_id)
    return {"messages": results}


async def staff(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """A staff member's reply (written by the reply endpoint) into the customer's conversation and stream."""
    runtime = tool_runtime.current()
    reply = state.get("staff_reply") or {}
    async with runtime.database.sessionmaker() as session:
        text, name = await events.staff_message(session, Caller.of(config).thread_id, reply.get("event_id"))
    if text is None:
        return {"staff_reply": None}
    return {
        "messages": [AIMessage(content=text, name=STAFF, additional_kwargs={"staff_name": name})],
        "staff_reply": None,
    }


def _start(state: SupportState) -> str:
    return STAFF if state.get("staff_reply") else SUPERVISOR


def _after_supervisor(state: SupportState) -> str:
    return "route" if state.get("plan") else END


def _after_agent(state: SupportState) -> str:
    last = state["messages"][-1] if state["messages"] else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    return "route" if state.get("plan") else END


def _after_tools(state: SupportState) -> str:
    last = state["messages"][-1] if state["messages"] else None
    if isinstance(last, AIMessage) and last.name == SUPERVISOR:  # refused by a limit: the turn ends
        return END
    return "agent"


def build() -> StateGraph:
    graph = StateGraph(SupportState)
    graph.add_node(SUPERVISOR, supervisor)
    graph.add_node("route", route)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_node(STAFF, staff)
    graph.add_conditional_edges(START, _start, [SUPERVISOR, STAFF])
    graph.add_conditional_edges(SUPERVISOR, _after_supervisor, ["route", END])
    graph.add_edge("route", "agent")
    graph.add_conditional_edges("agent", _after_agent, ["tools", "route", END])
    graph.add_conditional_edges("tools", _after_tools, ["agent", END])
    graph.add_edge(STAFF, END)
    return graph


graph = build().compile(name=GRAPH_ID)

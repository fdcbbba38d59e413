"""Executing a model's tool calls under the approval policy, whatever the model says: unknown tools
and bad arguments go back to the model, `deny` refuses, `require_approval` waits (an interrupt plus
an approval record), and every call is recorded under an idempotency key, so a step re-executed
after a resume or a worker's death never calls out twice for the same decision."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.types import interrupt
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from loopdesk.support.conversations.models import EventKind
from loopdesk.support.conversations.service import record_event
from loopdesk.tools.approvals.schemas import Decision
from loopdesk.tools.approvals.service import open_approval, record_decision
from loopdesk.tools.base import ToolCallContext, ToolResult, ToolSpec
from loopdesk.tools.models import Approval, ToolCall
from loopdesk.tools.policy import effective_mode
from loopdesk.tools.runtime import ToolRuntime
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.tools.gate")

FINISHED = ("succeeded", "failed", "denied", "rejected", "expired")
SUPERSEDED = "Not run: the user sent a new message before this call was decided."


@dataclass
class Caller:
    thread_id: uuid.UUID
    run_id: uuid.UUID | None
    assistant_id: uuid.UUID | None
    user_id: uuid.UUID | None

    @classmethod
    def of(cls, config: RunnableConfig) -> Caller:
        configurable = config.get("configurable") or {}

        def as_uuid(name: str) -> uuid.UUID | None:
            try:
                return uuid.UUID(str(configurable[name]))
            except (KeyError, ValueError):
                return None

        thread_id = as_uuid("thread_id")
        if thread_id is None:
            raise RuntimeError("tool calls need a thread (configurable.thread_id)")
        return cls(thread_id, as_uuid("run_id"), as_uuid("assistant_id"), as_uuid("user_id"))


def _message(call: dict[str, Any], content: str, *, error: bool = False) -> ToolMessage:
    return ToolMessage(
        content=content, tool_call_id=call["id"], name=call["name"], status="error" if error else "success"
    )


def close_unanswered(messages: list[BaseMessage]) -> tuple[list[BaseMessage], list[str]]:
    """The conversation as a model may read it, and the ids of tool calls that never got a result.

    A user's new message can reach a thread whose last tool calls still wait for approval (a message
    queued behind the run that stopped there, or Agent Protocol input on an interrupted thread): the
    waiting step is abandoned. Providers refuse an assistant's tool calls without results, so each gets a
    "not run" result right after the call."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    closed: list[BaseMessage] = []
    missing: list[str] = []
    for message in messages:
        closed.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id") and call["id"] not in answered:
                    closed.append(_message(call, SUPERSEDED, error=True))  # type: ignore[arg-type]
                    missing.append(call["id"])  # type: ignore[arg-type]
    return closed, missing


class ToolGate:
    def __init__(self, runtime: ToolRuntime, caller: Caller, allowed: set[str] | None, *, approver: str = "any"):
        self.runtime = runtime
        self.caller = caller
        self.allowed = allowed
        self.approver = approver  # "staff": only staff may approve (the customer may still withdraw)
        self.sessionmaker = runtime.database.sessionmaker
        self.ttl = timedelta(minutes=runtime.settings.tools.approval_ttl_minutes)
        self.timeout = runtime.settings.tools.tool_timeout_seconds

    async def withdraw(self, call_ids: list[str]) -> None:
        """Approvals still pending for calls the conversation moved past are rejected (and audited)."""
        keys = [f"{self.caller.thread_id}:{call_id}" for call_id in call_ids]
        async with self.sessionmaker() as session, session.begin():
            pending = await session.scalars(
                select(Approval.id).where(Approval.tool_call_key.in_(keys), Approval.status == "pending")
            )
            for approval_id in pending.all():
                await record_decision(
                    session, approval_id, "rejected", actor_id=self.caller.user_id, via="superseded", message=SUPERSEDED
                )

    async def run(self, calls: list[dict[str, Any]]) -> list[ToolMessage]:
        # One call after another: the interrupts of a step must come in the same order every time it runs.
        return [await self._one(call) for call in calls]

    async def _one(self, call: dict[str, Any]) -> ToolMessage:
        registry = self.runtime.registry
        spec = registry.spec(call["name"])
        if spec is None or (self.allowed is not None and spec.name not in self.allowed):
            return _message(call, f"there is no tool named {call['name']!r} available here", error=True)
        key = f"{self.caller.thread_id}:{call['id']}"
        args = call.get("args") or {}
        async with self.sessionmaker() as session:
            done = await session.get(ToolCall, key)
            approval = await session.scalar(select(Approval).where(Approval.tool_call_key == key))
        if done is not None and done.status in FINISHED:
            if approval is not None:
                interrupt(self._payload(approval))  # replays this step's earlier decision, keeps interrupts in order
            return _message(call, _stored_text(done), error=done.is_error)
        if approval is None:
            if (problem := registry.validate(spec, args)) is not None:
                return _message(call, f"invalid arguments for {spec.name}: {problem}", error=True)
            async with self.sessionmaker() as session, session.begin():
                mode = await effective_mode(session, spec, self.caller.user_id)
                if mode.mode == "deny":
                    await self._record(session, key, spec, args, "denied", ToolResult.error("denied"))
                    return _message(
                        call, f"{spec.name} is not allowed by the approval policy; it was not run", error=True
                    )
                if mode.mode == "require_approval":
                    approval = await open_approval(
                        session,
                        key=key,
                        tool_call_id=call["id"],
                        thread_id=self.caller.thread_id,
                        run_id=self.caller.run_id,
                        assistant_id=self.caller.assistant_id,
                        requester_id=self.caller.user_id,
                        spec=spec,
                        args=args,
                        ttl=self.ttl,
                        approver=self.approver,
                    )
        if approval is not None:
            approval = await self._settled(approval, *Decision.from_resume(interrupt(self._payload(approval))))
            if approval.status in ("rejected", "expired"):
                return await self._refused(call, key, spec, approval)
            if approval.status == "pending":  # resumed with something that is not a decision
                return _message(call, f"{spec.name} was not run: no decision was given", error=True)
            if approval.edited_args is not None:
                args = approval.edited_args
                if (problem := registry.validate(spec, args)) is not None:
                    return _message(call, f"invalid edited arguments for {spec.name}: {problem}", error=True)
        result = await self._execute(key, spec, args, approval)
        return _message(call, result.text(), error=result.is_error)

    def _payload(self, approval: Approval) -> dict[str, Any]:
        return {
            "action": approval.tool_name,
            "params": approval.args,
            "description": approval.description,
            "side_effect": approval.side_effect,
            "approval_id": str(approval.id),
            "tool_call_id": approval.tool_call_id,
            "expires_at": approval.expires_at.isoformat(),
        }

    async def _settled(
        self, approval: Approval, status: str | None, message: str | None, args: dict[str, Any] | None
    ) -> Approval:
        """The approval as decided: a REST or WebSocket decision was recorded before the resume; a raw
        resume (Agent Protocol clients) is recorded now, by the run's user."""
        async with self.sessionmaker() as session, session.begin():
            if status in ("approved", "edited") and approval.approver == "staff" and not await self._staff(session):
                # A raw resume by a customer cannot approve what staff must approve: it withdraws the request.
                status, message = "rejected", "only a staff member can approve this action"
            if status is not None:
                if status == "expired" and approval.expires_at > datetime.now(UTC):
                    status = None  # only the sweeper expires approvals
                else:
                    await record_decision(
                        session,
                        approval.id,
                        status,
                        actor_id=self.caller.user_id,
                        via="command" if status != "expired" else "expiry",
                        message=message,
                        edited_args=args if status == "edited" else None,
                    )
            fresh = await session.get(Approval, approval.id, populate_existing=True)
        assert fresh is not None
        return fresh

    async def _staff(self, session: Any) -> bool:
        user = await session.get(User, self.caller.user_id) if self.caller.user_id else None
        return user is not None and user.is_staff

    async def _refused(self, call: dict[str, Any], key: str, spec: ToolSpec, approval: Approval) -> ToolMessage:
        if approval.status == "expired":
            text = f"{spec.name} was not run: nobody approved it before the approval expired"
            _emit({"type": "interrupt_expired", "approval_id": str(approval.id), "action": spec.name, "message": text})
        else:
            reason = f": {approval.decision_message}" if approval.decision_message else ""
            text = f"{spec.name} was not run: the reviewer rejected it{reason}"
        async with self.sessionmaker() as session, session.begin():
            await self._record(session, key, spec, approval.args, approval.status, ToolResult.error(text), approval)
        return _message(call, text, error=True)

    async def _record(
        self, session: Any, key: str, spec: ToolSpec, args: dict[str, Any], status: str, result: ToolResult,
        approval: Approval | None = None,
    ) -> None:  # fmt: skip
        values = {
            "key": key,
            "thread_id": self.caller.thread_id,
            "run_id": self.caller.run_id,
            "user_id": self.caller.user_id,
            "tool_name": spec.name,
            "source": spec.source,
            "side_effect": spec.side_effect,
            "args": args,
            "status": status,
            "result": result.content,
            "is_error": result.is_error,
            "approval_id": approval.id if approval else None,
            "finished_at": datetime.now(UTC) if status in FINISHED else None,
        }
        statement = insert(ToolCall).values(**values)
        changes = {k: statement.excluded[k] for k in ("run_id", "status", "result", "is_error", "finished_at", "args")}
        changes["attempts"] = ToolCall.attempts + 1
        await session.execute(statement.on_conflict_do_update(index_elements=["key"], set_=changes))
        if status in FINISHED:
            await self._tool_event(session, spec, args, status, result, approval)

    async def _tool_event(
        self, session: Any, spec: ToolSpec, args: dict[str, Any], status: str, result: ToolResult,
        approval: Approval | None, duration_ms: int | None = None,
    ) -> None:  # fmt: skip
        """The finished call on the support event stream, in the transaction that records its outcome."""
        data = {
            "args": args,
            "status": status,
            "error": result.is_error,
            "result": _summary(result),
            "approval_id": str(approval.id) if approval else None,
        }
        await record_event(
            session,
            thread_id=self.caller.thread_id,
            kind=EventKind.TOOL_CALL,
            user_id=self.caller.user_id,
            tool=spec.name,
            data=data,
            duration_ms=duration_ms,
            assistant_id=self.caller.assistant_id,
        )

    async def _execute(self, key: str, spec: ToolSpec, args: dict[str, Any], approval: Approval | None) -> ToolResult:
        async with self.sessionmaker() as session, session.begin():
            await self._record(session, key, spec, args, "started", ToolResult(None), approval)
        context = ToolCallContext(
            idempotency_key=key,
            user_id=str(self.caller.user_id) if self.caller.user_id else None,
            thread_id=str(self.caller.thread_id),
            run_id=str(self.caller.run_id) if self.caller.run_id else None,
            timeout=self.timeout,
        )
        started = time.monotonic()
        result = await self.runtime.registry.call(spec.name, args, context)
        duration_ms = round((time.monotonic() - started) * 1000)
        status = "failed" if result.is_error else "succeeded"
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(ToolCall)
                .where(ToolCall.key == key)
                .values(
                    status=status,
                    result=_storable(result.content),
                    is_error=result.is_error,
                    finished_at=datetime.now(UTC),
                )
            )
            await self._tool_event(session, spec, args, status, result, approval, duration_ms)
        log.info("tools.called", tool=spec.name, source=spec.source, error=result.is_error)
        return result


def _storable(content: Any) -> Any:
    text = content if isinstance(content, str) else None
    if text is not None and len(text) > 100_000:
        return text[:100_000] + "…"
    return content


def _summary(result: ToolResult, limit: int = 500) -> str:
    text = result.text() if result.content is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stored_text(row: ToolCall) -> str:
    return ToolResult(row.result, is_error=row.is_error).text() if row.result is not None else ""


def _emit(event: dict[str, Any]) -> None:
    try:
        get_stream_writer()(event)
    except RuntimeError:  # outside a graph run: nothing streams
        pass

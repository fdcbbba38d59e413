"""Tools every assistant may use without configuration: the clock, arithmetic, and the agent's own
long-term memory (the store, scoped to the user; semantic search when the store has an index)."""

from __future__ import annotations

import ast
import operator
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.tools import ToolException
from langgraph.config import get_store

from loopdesk.tools.python import plugin_tool

MEMORY_NAMESPACE = ("memories",)


@plugin_tool(side_effect="read")
def current_time(timezone: str = "UTC") -> str:
    """Get the current date and time in a timezone (IANA name such as Europe/Paris or Asia/Shanghai)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolException(f"unknown timezone {timezone!r}") from exc
    return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")


_OPERATORS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 100 or abs(left) > 1e6):
            raise ToolException("exponent too large")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ToolException("only numbers and + - * / // % ** and parentheses are allowed")


@plugin_tool(side_effect="read")
def calculator(expression: str) -> str:
    """Calculate an arithmetic expression, e.g. "(12.5 + 7) * 3" or "2 ** 10"."""
    if len(expression) > 500:
        raise ToolException("expression longer than 500 characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        value = _evaluate(tree)
    except SyntaxError as exc:
        raise ToolException(f"not an arithmetic expression: {expression!r}") from exc
    except ZeroDivisionError as exc:
        raise ToolException("division by zero") from exc
    return f"{value:g}" if isinstance(value, float) else str(value)


def _store() -> Any:
    try:
        return get_store()
    except RuntimeError as exc:
        raise ToolException("long-term memory is only available inside an agent run") from exc


# The agent's own memory: changes nothing outside loopdesk, so no approval by default.
@plugin_tool(side_effect="write", default_mode="auto")
async def remember(fact: str) -> str:
    """Save a fact about the user or the conversation to long-term memory, to recall in later conversations."""
    fact = fact.strip()
    if not fact:
        raise ToolException("nothing to remember")
    key = uuid.uuid4().hex
    await _store().aput(MEMORY_NAMESPACE, key, {"text": fact[:2000], "saved_at": datetime.now(UTC).isoformat()})
    return f"remembered (id {key})"


@plugin_tool(side_effect="read")
async def recall(query: str, limit: int = 5) -> list[dict[str, Any]]:
    """Search long-term memory for facts saved earlier that relate to the query."""
    items = await _store().asearch(MEMORY_NAMESPACE, query=query or None, limit=max(1, min(limit, 20)))
    return [{"id": item.key, "text": item.value.get("text"), "score": getattr(item, "score", None)} for item in items]


# Hands the conversation to the feedback loop as the customer's report: a write, so it waits for approval.
@plugin_tool(side_effect="write", timeout_seconds=60.0)
async def report_problem(title: str, description: str | None = None, issue_type: str | None = None) -> dict[str, Any]:
    """Hand this support conversation over as a problem report for the customer: a feedback task with the
    transcript attached, followed up by the team. `issue_type`: bug, suggestion or question (optional)."""
    from loopdesk.feedback.handover import report_as_system
    from loopdesk.tools import runtime as tool_runtime
    from loopdesk.tools.python import current_call

    call = current_call()
    runtime = tool_runtime.current()
    if call is None or call.thread_id is None or runtime.graphs is None or runtime.persistence is None:
        raise ToolException("report_problem only works inside a support conversation on the server")
    if issue_type not in (None, "bug", "suggestion", "question"):
        raise ToolException("issue_type must be bug, suggestion or question")
    if not title.strip():
        raise ToolException("a title is required")
    async with runtime.database.sessionmaker() as session, session.begin():
        done = await report_as_system(
            session, runtime, uuid.UUID(call.thread_id), title=title, description=description, issue_type=issue_type
        )
        task = done.intake.task
        return {"task_number": task.task_number, "linked": done.intake.linked, "stage": task.workflow_stage}


BUILTIN_TOOLS = [current_time, calculator, remember, recall, report_problem]

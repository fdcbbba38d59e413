"""The feedback workflow graph (`feedback_workflow`, internal): one thread per task, owned by the system account,
run durably by the runtime's workers. It carries out the automatic steps and waits, at an interrupt, for the
people whose turn it is:

    START ─► analyze ─► route ─► wait ◄─┐      analyze: classified → analyzed (logs, anomalies, templates)
      │                           │      │      route:   analyzed → routed → plan_review (team, person, plan)
      └────────► follow_up ◄──────┘      │      wait:    interrupt until a REST action resumes it
                     │ (open) ───────────┘      follow_up: resolved → verification; END when closed/rejected
                     └─► END (closed | rejected)

Every step works in its own transaction on the task row (locked) and first checks the task's stage in the
database, so a step re-run after a worker died does nothing twice: the run is retried by the runtime and takes
up where the database says it is. Human gates are never passed here: `move` (feedback/workflow.py) only
allows the automatic steps from the stages they leave."""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

import structlog
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import FINAL_STAGES, Task
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.workflow import move, now
from loopdesk.tools import runtime as tool_runtime

log = structlog.get_logger("loopdesk.feedback.graph")

GRAPH_ID = "feedback_workflow"
# What the workflow waits for at each stage where people act (the interrupt's value says so).
WAITING_FOR = {
    "plan_review": "review: approve, modify or reject the plan (POST /api/v1/tasks/{id}/review)",
    "assigned": "the assignee's progress (POST /api/v1/tasks/{id}/progress)",
    "in_progress": "the assignee's progress (POST /api/v1/tasks/{id}/progress)",
    "feedback_pending": "the assignee's progress report (POST /api/v1/tasks/{id}/progress)",
    "verification": "verification by the reporter or staff (POST /api/v1/tasks/{id}/verify)",
    "resolved": "verification (POST /api/v1/tasks/{id}/verify)",
}


class WorkflowState(TypedDict, total=False):
    task_id: str
    stage: str
    action: dict[str, Any]  # the REST action that (re)started the run, when one did
    steps: Annotated[list[dict[str, Any]], operator.add]


@asynccontextmanager
async def _task(state: WorkflowState) -> AsyncIterator[tuple[AsyncSession, Task | None]]:
    database = tool_runtime.current().database
    async with database.sessionmaker() as session, session.begin():
        yield session, await TaskRepository(session).get_for_update(uuid.UUID(state["task_id"]))


async def _enter(state: WorkflowState) -> str:
    async with _task(state) as (_, task):
        stage = task.workflow_stage if task is not None else "gone"
    return {"classified": "analyze", "analyzed": "route"}.get(stage, "follow_up")


async def analyze(state: WorkflowState) -> dict[str, Any]:
    from loopdesk.feedback.analysis import analyze_task

    async with _task(state) as (session, task):
        if task is None or task.workflow_stage != "classified":
            return {"stage": task.workflow_stage if task else "gone"}
        settings = tool_runtime.current().settings
        result = await analyze_task(session, task, now=now(), settings=settings)
        analysis = result.as_log_analysis()
        task.log_analysis = analysis
        task.root_cause_hypothesis = analysis.get("root_cause_hypothesis")
        task.affected_modules = list(dict.fromkeys([*task.affected_modules, *analysis.get("modules", [])]))
        await move(
            session,
            task,
            "analyzed",
            reason=f"logs analysed ({analysis.get('method', 'rules')}): "
            f"{analysis.get('related_logs_count', 0)} related records",
            data={
                "related_logs_count": analysis.get("related_logs_count", 0),
                "confidence_score": analysis.get("confidence_score"),
                "modules": task.affected_modules,
            },
        )
        return {"stage": "analyzed", "steps": [{"step": "analyze", "at": now().isoformat()}]}


async def route(state: WorkflowState) -> dict[str, Any]:
    from loopdesk.feedback.routing import route_task

    async with _task(state) as (session, task):
        if task is None or task.workflow_stage != "analyzed":
            return {"stage": task.workflow_stage if task else "gone"}
        repository = TaskRepository(session)
        decision = await route_task(session, task, now=now())
        route = decision.as_data()  # rule ids change when the rules are replaced: the reason and data stay
        if decision.team_id != task.team_id:
            await repository.add_event(
                task.id, "team", from_value=None, to_value=decision.team_name, reason=decision.reason, data=route
            )
            task.team_id = decision.team_id
        if decision.assignee_id is not None and decision.assignee_id != task.assignee_id:
            await repository.add_event(
                task.id,
                "assignee",
                from_value=str(task.assignee_id) if task.assignee_id else None,
                to_value=str(decision.assignee_id),
                reason=decision.reason,
                data=route,
            )
            task.assignee_id = decision.assignee_id
        await move(session, task, "routed", reason=decision.reason, data=route)
        task.resolution_plan = draft_plan(task, route)
        await repository.add_event(
            task.id, "plan", to_value="draft", reason="drafted from the analysis (rules)", data=task.resolution_plan
        )
        await move(session, task, "plan_review", reason="a plan was drafted: waiting for review")
        step = {"step": "route", "at": now().isoformat(), "team": decision.team_name, "reason": decision.reason}
        return {"stage": "plan_review", "steps": [step]}


def draft_plan(task: Task, route: dict[str, Any]) -> dict[str, Any]:
    """A first plan from the analysis, for the reviewer to approve, modify or reject."""
    analysis = task.log_analysis or {}
    modules = ", ".join(task.affected_modules) or "the affected area"
    if task.issue_type == "suggestion":
        steps = [
            f"Weigh the suggestion's value against its effort ({analysis.get('value_effort', {}).get('score', 'n/a')})",
            f"Design the change in {modules}",
            "Build it behind a flag and release it",
            "Tell the reporters and ask them to verify",
        ]
    else:
        steps = [
            f"Reproduce the problem in {modules}",
            f"Confirm or refute the hypothesis: {task.root_cause_hypothesis or 'none yet'}",
            "Fix it and add a regression test",
            "Release the fix and ask the reporter to verify",
        ]
    return {
        "summary": analysis.get("recommendation") or f"Investigate and fix: {task.title}",
        "steps": steps,
        "team": route.get("team_name"),
        "assignee_id": route.get("assignee_id"),
        "written_by": "rules",
    }


def wait(state: WorkflowState) -> dict[str, Any]:
    stage = state.get("stage", "")
    action = interrupt(
        {"task_id": state["task_id"], "stage": stage, "waiting_for": WAITING_FOR.get(stage, "a person's action")}
    )
    return {"action": action if isinstance(action, dict) else {"value": action}}


async def follow_up(state: WorkflowState) -> dict[str, Any]:
    """What follows a person's action: a resolved task goes to verification; a closed one ends the run."""
    async with _task(state) as (session, task):
        if task is None:
            return {"stage": "gone"}
        if task.workflow_stage == "resolved":
            await move(session, task, "verification", reason="resolved: the reporter is asked to verify the fix")
        return {"stage": task.workflow_stage, "steps": [{"step": "follow_up", "stage": task.workflow_stage}]}


def _after_follow_up(state: WorkflowState) -> str:
    return END if state.get("stage") in (*FINAL_STAGES, "gone") else "wait"


def build_graph() -> Any:
    builder = StateGraph(WorkflowState)
    builder.add_node("analyze", analyze)
    builder.add_node("route", route)
    builder.add_node("wait", wait)
    builder.add_node("follow_up", follow_up)
    builder.add_conditional_edges(START, _enter, ["analyze", "route", "follow_up"])
    builder.add_edge("analyze", "route")
    builder.add_conditional_edges("route", _after_follow_up, ["wait", END])
    builder.add_edge("wait", "follow_up")
    builder.add_conditional_edges("follow_up", _after_follow_up, ["wait", END])
    return builder.compile()


graph = build_graph()

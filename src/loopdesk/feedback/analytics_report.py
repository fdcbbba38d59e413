"""The weekly feedback report (`loopdesk feedback report`): a period's analytics beside the period before it
(week over week), the top categories and modules, and the open tasks past their deadline; as Markdown for
people or JSON for tools."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.analytics import FeedbackAnalytics, Period, Step
from loopdesk.feedback.analytics_schemas import BreachedTask, FeedbackAnalyticsRead, PeriodRead

TOP = 5
Kind = Literal["count", "hours", "rate", "score"]
# The week-over-week table: key, label, what it reads, how it is shown.
METRICS: tuple[tuple[str, str, Callable[[FeedbackAnalyticsRead], float | None], Kind], ...] = (
    ("tasks_created", "Tasks created", lambda a: a.tasks_created, "count"),
    ("reports", "Reports (duplicates included)", lambda a: a.reports, "count"),
    ("first_response_p50_hours", "First response, p50", lambda a: a.first_response.p50_hours, "hours"),
    ("first_response_p90_hours", "First response, p90", lambda a: a.first_response.p90_hours, "hours"),
    ("resolution_p50_hours", "Time to resolve, p50", lambda a: a.resolution.p50_hours, "hours"),
    ("resolution_p90_hours", "Time to resolve, p90", lambda a: a.resolution.p90_hours, "hours"),
    ("fix_rate", "Fix rate", lambda a: a.fix_rate.rate, "rate"),
    ("sla_attainment", "SLA attainment", lambda a: a.sla_attainment.rate, "rate"),
    ("reopen_rate", "Reopen rate", lambda a: a.reopen_rate.rate, "rate"),
    ("duplicate_rate", "Duplicate rate", lambda a: a.duplicate_rate.rate, "rate"),
    ("automation_rate", "Reached review untouched", lambda a: a.automation.no_human_before_review.rate, "rate"),
    ("routed_to_person_rate", "Assignee named by the workflow", lambda a: a.automation.routed_to_person.rate, "rate"),
    ("csat_mean", "CSAT (mean of 1–5)", lambda a: a.csat.mean, "score"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    label: str
    kind: Kind
    current: float | None
    previous: float | None

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return round(self.current - self.previous, 4)


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    current: FeedbackAnalyticsRead
    previous: FeedbackAnalyticsRead
    breached: list[BreachedTask]

    def changes(self) -> list[Change]:
        return [Change(key, label, kind, read(self.current), read(self.previous)) for key, label, read, kind in METRICS]

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.current.period.model_dump(mode="json"),
            "previous_period": self.previous.period.model_dump(mode="json"),
            "generated_at": self.current.model_dump(mode="json")["generated_at"],
            "week_over_week": {
                c.key: {"current": c.current, "previous": c.previous, "change": c.delta} for c in self.changes()
            },
            "top_categories": _top(self.current.by_category),
            "top_modules": _top(self.current.by_module),
            "breached_tasks": [task.model_dump(mode="json") for task in self.breached],
            "current": self.current.model_dump(mode="json"),
            "previous": self.previous.model_dump(mode="json"),
        }

    def markdown(self) -> str:
        now, before = self.current, self.previous
        lines = [
            f"# Feedback loop report: {_span(now.period)}",
            "",
            f"Generated {now.generated_at:%Y-%m-%d %H:%M} UTC. Measures count the tasks created in the period; "
            f"the previous period is {_span(before.period)}.",
            "",
            "## Summary",
            "",
            "| Measure | This period | Previous | Change |",
            "|---|---:|---:|---:|",
            *(
                f"| {c.label} | {_value(c.current, c.kind)} | {_value(c.previous, c.kind)} | {_delta(c)} |"
                for c in self.changes()
            ),
            "",
            f"SLA: {now.sla_attainment.count} of {now.sla_attainment.total} resolved tasks met their deadline. "
            f"Fixed: {now.fix_rate.count} of {now.fix_rate.total} finished ({now.fix_rate.closed_by_reporter} "
            f"verified by the reporter, {now.fix_rate.closed_by_staff} closed by staff, "
            f"{now.fix_rate.rejected} rejected).",
            "",
            "## Top categories",
            "",
            *_ranked_lines(now.by_category),
            "",
            "## Top modules",
            "",
            *_ranked_lines(now.by_module),
            "",
            "## Breakdown",
            "",
            f"- Region: {_inline(now.by_region)}",
            f"- Issue type: {_inline(now.by_issue_type)}",
            f"- Priority: {_inline(now.by_priority)}",
            f"- CSAT: {_value(now.csat.mean, 'score')} from {now.csat.count} ratings ("
            + ", ".join(f"{score}★ {count}" for score, count in now.csat.distribution.items())
            + ")",
            "",
            "## Daily trend",
            "",
            "| Day | Created | Resolved |",
            "|---|---:|---:|",
            *(f"| {day.day:%a %Y-%m-%d} | {day.created} | {day.resolved} |" for day in now.trend),
            "",
            f"## Backlog now: {now.backlog.open} open, {now.backlog.breached} past their deadline",
            "",
            *(
                ["| Stage | Open |", "|---|---:|", *(f"| {s} | {n} |" for s, n in now.backlog.by_stage.items())]
                if now.backlog.by_stage
                else ["No open tasks."]
            ),
            "",
            "## Breached tasks",
            "",
            *(_breached_lines(self.breached) if self.breached else ["None: every open task is within its deadline."]),
        ]
        return "\n".join(lines) + "\n"


async def build_report(
    session: AsyncSession, period: Period, *, now: datetime, step: Step | None = None
) -> FeedbackReport:
    """The period's analytics, the previous period's (same length, just before) and the breached tasks."""
    tell = step or (lambda _: None)
    analytics = FeedbackAnalytics(session)
    current = await analytics.compute(period, now=now, step=lambda part: tell(f"this period: {part}"))
    previous = await analytics.compute(period.previous(), now=now, step=lambda part: tell(f"previous period: {part}"))
    tell("breached tasks")
    return FeedbackReport(current, previous, await analytics.breached_tasks(now=now))


def _top(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "tasks": tasks} for name, tasks in list(counts.items())[:TOP]]


def _span(period: PeriodRead) -> str:
    if period.start.time() == time() and period.end.time() == time():  # whole days: name the last one
        return f"{period.start:%Y-%m-%d} – {period.end - timedelta(days=1):%Y-%m-%d}"
    return f"{period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M} UTC"


def _value(value: float | None, kind: Kind) -> str:
    if value is None:
        return "–"
    return {
        "count": f"{value:.0f}",
        "hours": f"{value:.1f} h",
        "rate": f"{value:.1%}",
        "score": f"{value:.2f}",
    }[kind]


def _delta(change: Change) -> str:
    delta = change.delta
    if delta is None:
        return "–"
    if change.kind == "rate":
        return f"{delta * 100:+.1f} pp"
    return {"count": f"{delta:+.0f}", "hours": f"{delta:+.1f} h", "score": f"{delta:+.2f}"}[change.kind]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _ranked_lines(counts: dict[str, int]) -> list[str]:
    if not counts:
        return ["None in this period."]
    return [f"{n}. {_cell(name)}: {tasks}" for n, (name, tasks) in enumerate(list(counts.items())[:TOP], 1)]


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{_cell(name)} {tasks}" for name, tasks in counts.items()) or "none"


def _breached_lines(tasks: list[BreachedTask]) -> list[str]:
    return [
        "| Task | Title | Stage | Priority | Deadline | Overdue |",
        "|---|---|---|---|---|---:|",
        *(
            f"| {t.task_number} | {_cell(t.title)[:80]} | {t.workflow_stage} | {t.priority_level or '–'} | "
            f"{t.sla_deadline:%Y-%m-%d %H:%M} | {t.overdue_hours:.1f} h |"
            for t in tasks
        ),
    ]

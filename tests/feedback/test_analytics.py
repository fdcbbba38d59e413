"""Feedback analytics on a real database: a week of tasks written with chosen timestamps and timelines (every
number below worked out by hand from them), a loop walked through the REST API and the workflow graph, the
period parameters, and `loopdesk feedback report` run against the test's database."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from loopdesk.core.db import Database
from loopdesk.feedback.cli import app as feedback_cli
from loopdesk.feedback.models import Task, TaskEvent
from loopdesk.users.models import User
from tests.conftest import assert_error
from tests.feedback.workflow_helpers import CRASH, post, task_at

W10 = datetime(2026, 3, 2, tzinfo=UTC)  # Monday of ISO week 2026-W10
H = timedelta(hours=1)
D = timedelta(days=1)
WEEK = "from=2026-03-02&to=2026-03-08"


async def seed_week(database_url: str) -> dict[str, str]:
    """Five tasks created in 2026-W10 (A–E), one the Sunday before (F) and one the Monday after (G).

    A  bug/payment/domestic/P1, modules payment+checkout, 2 reporters joined; answered 2 h, resolved 10 h
       (deadline 24 h: met), verified and closed by the reporter, CSAT 5; reached review untouched, the
       workflow named the assignee.
    B  bug/payment/international/P2, module payment; answered 4 h, resolved 30 h (deadline 24 h: missed),
       closed by the reporter, reopened, closed again by staff; CSAT 3; the workflow routed it to a team only.
    C  suggestion/ui/international/P3; answered 6 h; staff routed it by hand, then rejected it.
    D  bug/login/domestic/P0, module auth, 1 reporter joined; answered 8 h; in progress, deadline Mar 6 (breached).
    E  question, no category or region, P4; not answered, still received, deadline far ahead.
    F  (Sun Mar 1 23:00) closed by the reporter, resolved Mar 2 01:00: in W10's resolved trend only.
    G  (Mon Mar 9) waiting at plan_review: in the backlog only."""
    database = Database.connect(database_url, pool_size=1, max_overflow=0)
    people = {name: uuid.uuid4() for name in ("reporter", "joiner", "staff")}
    try:
        async with database.sessionmaker() as session, session.begin():
            for name, user_id in people.items():
                role = "staff" if name == "staff" else "customer"
                session.add(
                    User(id=user_id, email=f"{name}@example.com", display_name=name, password_hash="!", role=role)
                )
            await session.flush()
            reporter, staff = people["reporter"], people["staff"]

            def stage(to: str, actor: uuid.UUID | None = None) -> tuple[str, str, uuid.UUID | None]:
                return ("stage", to, actor)

            intake = [("created", "received", reporter), stage("classified"), stage("analyzed")]
            routed = [*intake, ("team", "Payments", None), ("assignee", str(staff), None), stage("routed")]
            reviewed = [*routed, stage("plan_review"), stage("assigned", staff), stage("in_progress", staff)]
            closed_by_reporter = [*reviewed, stage("resolved", staff), stage("verification"), stage("closed", reporter)]
            tasks = {
                "A": (
                    dict(created_at=W10, issue_type="bug", category="payment", region="domestic", priority_level="P1",
                         affected_modules=["payment", "checkout"], reporter_count=3, first_response_at=W10 + 2 * H,
                         resolved_at=W10 + 10 * H, closed_at=W10 + 12 * H, sla_deadline=W10 + 24 * H,
                         workflow_stage="closed", csat=5),
                    closed_by_reporter,
                ),
                "B": (
                    dict(created_at=W10 + D, issue_type="bug", category="payment", region="international",
                         priority_level="P2", affected_modules=["payment"], first_response_at=W10 + D + 4 * H,
                         resolved_at=W10 + D + 30 * H, closed_at=W10 + D + 31 * H, sla_deadline=W10 + D + 24 * H,
                         workflow_stage="closed", csat=3, reopen_count=1),
                    [*intake, ("team", "Payments", None), stage("routed"), stage("plan_review"),
                     ("assignee", str(staff), staff), stage("assigned", staff), stage("in_progress", staff),
                     stage("resolved", staff), stage("verification"), stage("closed", reporter),
                     stage("in_progress", reporter), stage("resolved", staff), stage("closed", staff)],
                ),
                "C": (
                    dict(created_at=W10 + D + 12 * H, issue_type="suggestion", category="ui", region="international",
                         priority_level="P3", first_response_at=W10 + D + 18 * H, workflow_stage="rejected"),
                    [*intake, ("team", "Design", staff), stage("routed", staff), stage("plan_review"),
                     stage("rejected", staff)],
                ),
                "D": (
                    dict(created_at=W10 + 3 * D, issue_type="bug", category="login", region="domestic",
                         priority_level="P0", affected_modules=["auth"], reporter_count=2,
                         first_response_at=W10 + 3 * D + 8 * H, sla_deadline=W10 + 4 * D, workflow_stage="in_progress"),
                    reviewed,
                ),
                "E": (
                    dict(created_at=W10 + 6 * D + 12 * H, issue_type="question", priority_level="P4",
                         sla_deadline=datetime(2099, 1, 1, tzinfo=UTC), workflow_stage="received"),
                    [("created", "received", reporter)],
                ),
                "F": (
                    dict(created_at=W10 - H, issue_type="bug", category="payment", region="domestic",
                         priority_level="P2", first_response_at=W10, resolved_at=W10 + H, closed_at=W10 + 2 * H,
                         workflow_stage="closed"),
                    closed_by_reporter,
                ),
                "G": (
                    dict(created_at=W10 + 7 * D, issue_type="bug", category="payment", priority_level="P2",
                         workflow_stage="plan_review"),
                    [*routed, stage("plan_review")],
                ),
            }  # fmt: skip
            numbers = {}
            for n, (name, (fields, timeline)) in enumerate(tasks.items(), 1):
                task = Task(
                    id=uuid.uuid4(),
                    task_number=f"FB-2026-{900000 + n}",
                    title=f"Report {name}",
                    description="seeded",
                    source_channel="web",
                    reporter_id=reporter,
                    updated_at=fields["created_at"],
                    **fields,
                )
                session.add(task)
                await session.flush()
                for kind, to_value, actor in timeline:  # one flush each: the ids keep the timeline's order
                    session.add(TaskEvent(task_id=task.id, kind=kind, to_value=to_value, actor_id=actor))
                    await session.flush()
                numbers[name] = task.task_number
        return numbers
    finally:
        await database.dispose()


def _share(rate: float | None, count: int, total: int) -> dict:
    return {"rate": rate, "count": count, "total": total}


class TestTheMeasures:
    async def test_a_week_of_tasks_gives_the_hand_computed_numbers(self, client, database_url, make_account) -> None:
        await seed_week(database_url)
        lead = await make_account("lead", role="staff")

        response = await client.get(f"/api/v1/analytics/feedback?{WEEK}", headers=lead.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["period"] == {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z", "days": 7.0}
        assert (body["tasks_created"], body["reports"]) == (5, 8)
        # Answered after 2, 4, 6 and 8 hours; resolved after 10 and 30 (percentile_cont interpolates).
        assert body["first_response"] == {"count": 4, "p50_hours": 5.0, "p90_hours": 7.4, "mean_hours": 5.0}
        assert body["resolution"] == {"count": 2, "p50_hours": 20.0, "p90_hours": 28.0, "mean_hours": 20.0}
        assert body["fix_rate"] == {
            **_share(0.6667, 2, 3), "closed_by_reporter": 1, "closed_by_staff": 1, "rejected": 1,
        }  # fmt: skip
        assert body["sla_attainment"] == {**_share(0.5, 1, 2), "breached_open_now": 1}
        assert body["reopen_rate"] == _share(0.3333, 1, 3)
        assert body["duplicate_rate"] == _share(0.375, 3, 8)
        assert body["automation"] == {
            "reached_plan_review": 4,  # A, B, C, D: C was routed by a person
            "no_human_before_review": _share(0.75, 3, 4),
            "routed_to_person": _share(0.5, 2, 4),  # A and D
        }
        assert body["csat"] == {"mean": 4.0, "count": 2, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
        assert [(d["day"], d["created"], d["resolved"]) for d in body["trend"]] == [
            ("2026-03-02", 1, 2),  # A created; A and F resolved
            ("2026-03-03", 2, 0),
            ("2026-03-04", 0, 1),
            ("2026-03-05", 1, 0),
            ("2026-03-06", 0, 0),
            ("2026-03-07", 0, 0),
            ("2026-03-08", 1, 0),
        ]
        assert body["by_category"] == {"payment": 2, "login": 1, "ui": 1, "unknown": 1}
        assert list(body["by_category"]) == ["payment", "login", "ui", "unknown"]  # most first, then by name
        assert body["by_region"] == {"domestic": 2, "international": 2, "unknown": 1}
        assert body["by_module"] == {"payment": 2, "auth": 1, "checkout": 1}
        assert body["by_issue_type"] == {"bug": 3, "question": 1, "suggestion": 1}
        assert body["by_priority"] == {"P0": 1, "P1": 1, "P2": 1, "P3": 1, "P4": 1}
        # D, E and G are open now; only D is past its deadline.
        assert body["backlog"] == {
            "open": 3, "breached": 1, "by_stage": {"received": 1, "plan_review": 1, "in_progress": 1},
        }  # fmt: skip

    async def test_the_default_range_counts_recent_tasks_and_the_backlog_whatever_its_age(
        self, client, database_url, admin
    ) -> None:
        await seed_week(database_url)

        body = (await client.get("/api/v1/analytics/feedback", headers=admin.headers)).json()

        assert body["period"]["days"] == 7.0
        assert body["tasks_created"] == 0 and body["first_response"]["p50_hours"] is None
        assert body["fix_rate"]["rate"] is None and body["csat"]["mean"] is None
        assert sum(day["created"] for day in body["trend"]) == 0
        assert (body["backlog"]["open"], body["backlog"]["breached"]) == (3, 1)
        month = (await client.get("/api/v1/analytics/feedback?range=90d", headers=admin.headers)).json()
        assert month["period"]["days"] == 90.0

    async def test_a_report_walked_through_the_workflow_counts_as_automated_fixed_and_rated(
        self, client, make_account, payments
    ) -> None:
        alice = await make_account("alice")
        lead, engineer = payments["lead"], payments["engineer"]
        fixed = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, lead, fixed, "plan_review")
        await post(client, lead, f"/api/v1/tasks/{fixed}/review", {"action": "approve"})
        await post(client, engineer, f"/api/v1/tasks/{fixed}/progress", {"done": True})
        await task_at(client, alice, fixed, "verification")
        await post(client, alice, f"/api/v1/tasks/{fixed}/verify", {"result": "pass"})
        await post(client, alice, f"/api/v1/tasks/{fixed}/csat", {"score": 4})
        refused = {**CRASH, "title": "Checkout page colour", "description": "Please make the pay button green."}
        rejected = (await post(client, alice, "/api/v1/feedback", refused, 201))["task"]["id"]
        await task_at(client, lead, rejected, "plan_review")
        await post(client, lead, f"/api/v1/tasks/{rejected}/review", {"action": "reject", "reason": "by design"})

        body = (await client.get("/api/v1/analytics/feedback?range=7d", headers=lead.headers)).json()

        assert body["tasks_created"] == 2
        assert body["automation"]["no_human_before_review"] == _share(1.0, 2, 2)
        assert body["automation"]["routed_to_person"] == _share(1.0, 2, 2)
        assert body["fix_rate"] == {
            **_share(0.5, 1, 2), "closed_by_reporter": 1, "closed_by_staff": 0, "rejected": 1,
        }  # fmt: skip
        assert body["first_response"]["count"] == 2 and body["resolution"]["count"] == 1
        assert body["sla_attainment"]["count"] == body["sla_attainment"]["total"] == 1  # resolved within minutes
        assert body["csat"]["mean"] == 4.0 and body["csat"]["distribution"]["4"] == 1
        assert body["by_module"] == {"payment": 2}
        assert body["backlog"] == {"open": 0, "breached": 0, "by_stage": {}}
        assert sum(day["created"] for day in body["trend"]) == sum(day["resolved"] for day in body["trend"]) + 1


class TestWhoAndWhat:
    async def test_only_staff_read_analytics(self, client, make_account) -> None:
        customer = await make_account("customer")
        assert_error(await client.get("/api/v1/analytics/feedback", headers=customer.headers), 403)
        assert_error(await client.get("/api/v1/analytics/feedback"), 401)

    async def test_bad_periods_are_refused_with_422(self, client, admin) -> None:
        for query, code in (
            ("range=5d", "validation_error"),
            ("from=2026-03-02", "invalid_period"),
            ("to=2026-03-02", "invalid_period"),
            ("from=2026-03-08&to=2026-03-02", "invalid_period"),
            (f"range=7d&{WEEK}", "invalid_period"),
            ("from=2026-13-01&to=2026-12-31", "validation_error"),
            ("from=2025-01-01&to=2026-03-01", "invalid_period"),  # over 366 days
            ("from=9999-12-31&to=9999-12-31", "invalid_period"),  # the end would not be a date
        ):
            response = await client.get(f"/api/v1/analytics/feedback?{query}", headers=admin.headers)
            assert_error(response, 422, code)


class TestWeeklyReport:
    async def test_the_week_report_compares_with_the_week_before(
        self, database_url, tmp_path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        numbers = await seed_week(database_url)
        monkeypatch.setenv("LOOPDESK_DATABASE_URL", database_url)
        monkeypatch.setenv("LOOPDESK_DATA_DIR", str(tmp_path))
        output = tmp_path / "week.json"
        runner = CliRunner()

        as_json = await asyncio.to_thread(
            runner.invoke, feedback_cli, ["report", "--week", "2026-W10", "--format", "json", "--output", str(output)]
        )
        as_markdown = await asyncio.to_thread(runner.invoke, feedback_cli, ["report", "--week", "2026-W10"])

        assert as_json.exit_code == 0, as_json.output
        report = json.loads(output.read_text())
        assert report["period"]["start"] == "2026-03-02T00:00:00Z"
        assert report["previous_period"] == {
            "start": "2026-02-23T00:00:00Z",
            "end": "2026-03-02T00:00:00Z",
            "days": 7.0,
        }
        change = report["week_over_week"]
        assert change["tasks_created"] == {"current": 5, "previous": 1, "change": 4}  # F was the week before
        assert change["fix_rate"] == {"current": 0.6667, "previous": 1.0, "change": -0.3333}
        assert change["csat_mean"] == {"current": 4.0, "previous": None, "change": None}
        assert report["top_categories"][0] == {"name": "payment", "tasks": 2}
        assert report["top_modules"][0] == {"name": "payment", "tasks": 2}
        assert [task["task_number"] for task in report["breached_tasks"]] == [numbers["D"]]
        assert report["current"]["tasks_created"] == 5
        assert as_markdown.exit_code == 0, as_markdown.output
        text = as_markdown.stdout
        assert text.startswith("# Feedback loop report: 2026-03-02 – 2026-03-08")
        assert "| Tasks created | 5 | 1 | +4 |" in text
        assert "| Fix rate | 66.7% | 100.0% | -33.3 pp |" in text
        assert "1. payment: 2" in text and f"| {numbers['D']} | Report D | in_progress | P0 |" in text
        assert "## Backlog now: 3 open, 1 past their deadline" in text

    def test_bad_options_are_refused_and_every_option_is_explained(self) -> None:
        runner = CliRunner()
        for args in (["--week", "2026-10"], ["--week", "2026-W60"], ["--week", "2026-W10", "--days", "7"]):
            result = runner.invoke(feedback_cli, ["report", *args])
            assert result.exit_code == 2, result.output
        wrong_format = runner.invoke(feedback_cli, ["report", "--format", "xml"])
        assert wrong_format.exit_code == 2
        helped = runner.invoke(feedback_cli, ["report", "--help"])
        assert helped.exit_code == 0
        assert all(option in helped.output for option in ("--week", "--days", "--format", "--output"))

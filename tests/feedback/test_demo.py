"""The demo seed (feedback/demo.py) on a real app with its queue worker: what it creates, that it runs once, and
that the analysis of its payment reports finds the incident it planted in the logs."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from loopdesk.core.settings import DatabaseSettings, FeedbackSettings, Settings
from loopdesk.feedback._demo_data import REPORTS, RULES, TEAMS
from loopdesk.feedback.demo import DemoSeeded, demo_seed_enabled, seed_demo
from tests.feedback.workflow_helpers import post, stages

GATEWAY_TIMEOUT = "Payment gateway timeout after <*> ms (order <*>)"


async def _seed(app) -> DemoSeeded | None:  # type: ignore[no-untyped-def]
    state = app.state
    return await seed_demo(state.database, state.settings, state.graphs, wait_seconds=60)


@pytest.fixture
async def seeded(app) -> DemoSeeded:  # type: ignore[no-untyped-def]
    result = await _seed(app)
    assert result is not None
    return result


async def _tasks(client, admin) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/tasks", params={"limit": 100}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.e2e  # slow (a week of logs and six reports walked through the workflow): `make test-e2e`
class TestSeed:
    async def test_it_creates_teams_staff_rules_logs_and_reports_walked_through_the_stages(
        self, seeded, client, admin
    ) -> None:
        teams = (await client.get("/api/v1/teams", headers=admin.headers)).json()
        assert sorted(t["name"] for t in teams) == sorted(t.name for t in TEAMS)
        payments_cn = next(t for t in teams if t["name"] == "支付组 Payments CN")
        assert payments_cn["region"] == "domestic" and len(payments_cn["members"]) == 3
        windows = [bool(m["on_call"]) for m in payments_cn["members"]]
        assert True in windows and False in windows  # rota windows, and someone always on duty
        assert {m["timezone"] for m in payments_cn["members"]} == {"Asia/Shanghai"}
        rules = (await client.get("/api/v1/routing-rules", headers=admin.headers)).json()
        assert [r["module"] for r in rules] == [rule[0] for rule in RULES]
        logs = await client.get("/api/v1/logs", params={"limit": 1}, headers=admin.headers)
        assert logs.status_code == 200 and seeded.log_records > 15_000

        tasks = await _tasks(client, admin)
        assert len(tasks) == len(REPORTS) == len(seeded.tasks)
        assert Counter(t["workflow_stage"] for t in tasks) == {"plan_review": 4, "in_progress": 1, "closed": 1}
        assert {t["language"] for t in tasks} == {"zh", "en"}
        assert {t["region"] for t in tasks} == {"domestic", "international"}
        assert all(t["team_id"] is not None and t["assignee_id"] is not None for t in tasks)
        closed = next(t for t in tasks if t["workflow_stage"] == "closed")
        assert closed["csat"] == 5
        walked = await stages(client, admin, closed["id"])
        assert walked == [
            "received", "classified", "analyzed", "routed", "plan_review", "assigned", "resolved", "verification",
            "closed",
        ], walked  # fmt: skip
        in_progress = next(t for t in tasks if t["workflow_stage"] == "in_progress")
        assert in_progress["language"] == "zh" and in_progress["team_id"] == payments_cn["id"]
        assert "demo seeded: 3 teams" in seeded.banner()

    async def test_a_second_run_does_nothing(self, seeded, client, admin, app) -> None:
        assert await _seed(app) is None
        assert len((await client.get("/api/v1/teams", headers=admin.headers)).json()) == len(TEAMS)
        assert len(await _tasks(client, admin)) == len(REPORTS)

    async def test_a_database_with_a_team_of_its_own_is_left_alone(self, app, client, admin) -> None:
        await post(client, admin, "/api/v1/teams", {"name": "Support", "members": []}, 201)
        assert await _seed(app) is None
        assert await _tasks(client, admin) == []
        logs = (await client.get("/api/v1/logs", params={"limit": 1}, headers=admin.headers)).json()
        assert logs["items"] == []

    async def test_the_analysis_of_its_payment_reports_finds_the_planted_incident(self, seeded, client, admin) -> None:
        tasks = await _tasks(client, admin)
        payments = [t for t in tasks if t["workflow_stage"] in ("closed", "in_progress")]
        assert {t["language"] for t in payments} == {"en", "zh"}
        start, end = seeded.incident
        for task in payments:
            analysis = task["log_analysis"]
            assert "payments" in analysis["modules"]
            incident = analysis["anomaly_patterns"][0]
            assert (incident["module"], incident["metric"]) == ("payments", "error_rate")
            assert incident["dominant_error"] == GATEWAY_TIMEOUT
            found = datetime.fromisoformat(incident["start"]), datetime.fromisoformat(incident["end"])
            assert found[0] < end and found[1] > start  # the finding's 5-minute intervals cover the burst
            assert "payments" in task["root_cause_hypothesis"]


class TestEnabled:
    @pytest.mark.parametrize(
        ("url", "configured", "expected"),
        [(None, None, True), ("postgresql://x/y", None, False), ("postgresql://x/y", True, True), (None, False, False)],
    )
    def test_on_for_the_embedded_database_unless_configured(self, url, configured, expected) -> None:
        settings = Settings(
            database=DatabaseSettings(database_url=url, _env_file=None),
            feedback=FeedbackSettings(demo_seed=configured, _env_file=None),
        )
        assert demo_seed_enabled(settings) is expected

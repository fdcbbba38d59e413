from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from loopdesk.triage.cli_region import app
from loopdesk.triage.priority import PriorityConfig, PriorityInput, UserTier, assess_priority, level_for_score


def test_seed_formula_worst_case_adds_every_bonus():
    # critical 80 + domestic core 10 + >10000 users 15 + core 15 + regression 10
    result = assess_priority(
        PriorityInput(
            severity="critical", region="domestic", affected_users=20_000, business_impact="core", is_regression=True
        )
    )
    assert (result.score, result.level) == (130, "P0")
    assert [c.points for c in result.contributions] == [80, 10, 15, 15, 10]


@pytest.mark.parametrize(
    ("fields", "score", "level"),
    [
        ({"severity": "critical", "region": "international"}, 85, "P1"),
        ({"severity": "critical", "region": "international", "is_regression": True}, 95, "P0"),
        ({"severity": "high", "region": "domestic", "business_impact": "core", "is_regression": True}, 95, "P0"),
        ({"severity": "high", "region": "domestic", "business_impact": "important", "affected_users": 5000}, 80, "P1"),
        ({"severity": "high", "business_impact": "important", "affected_users": 1001, "is_regression": True}, 90, "P0"),
        ({"severity": "high"}, 65, "P2"),
        ({"severity": "medium", "region": "domestic", "business_impact": "core"}, 65, "P2"),
        ({"severity": "medium", "business_impact": "core", "affected_users": 2000}, 65, "P2"),
        ({"severity": "medium", "business_impact": "important"}, 50, "P2"),
        ({"severity": "medium", "business_impact": "minor"}, 40, "P3"),
        ({"severity": "low", "business_impact": "important"}, 30, "P3"),
        ({"severity": "low"}, 25, "P4"),
        ({"severity": "low", "business_impact": "minor"}, 20, "P4"),
    ],
)
def test_seed_scoring_maps_to_levels(fields, score, level):
    result = assess_priority(PriorityInput(**fields))
    assert (result.score, result.level) == (score, level)
    assert sum(c.points for c in result.contributions) == result.score


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (200, "P0"),
        (90, "P0"),
        (89, "P1"),
        (70, "P1"),
        (69, "P2"),
        (50, "P2"),
        (49, "P3"),
        (30, "P3"),
        (29, "P4"),
        (-5, "P4"),
    ],
)
def test_level_boundaries_are_inclusive_lower_bounds(score, level):
    assert level_for_score(score) == level


@pytest.mark.parametrize(("users", "points"), [(0, 0), (1000, 0), (1001, 10), (10_000, 10), (10_001, 15)])
def test_affected_user_tiers_use_strictly_more_than(users, points):
    contribution = assess_priority(PriorityInput(affected_users=users)).contributions[2]
    assert (contribution.factor, contribution.points) == ("affected_users", points)


def test_region_bonus_applies_only_to_domestic_core_impact():
    core = assess_priority(PriorityInput(region="domestic", business_impact="core")).contributions[1]
    normal = assess_priority(PriorityInput(region="domestic", business_impact="normal")).contributions[1]
    foreign = assess_priority(PriorityInput(region="international", business_impact="core")).contributions[1]
    assert core.points == 10
    assert normal.points == 0 and "core impact only" in normal.note
    assert foreign.points == 0


def test_every_contribution_is_explained_in_order():
    result = assess_priority(PriorityInput(severity="high", region="domestic", affected_users=1500, is_regression=True))
    assert [c.factor for c in result.contributions] == [
        "severity",
        "region",
        "affected_users",
        "business_impact",
        "regression",
    ]
    assert result.explain() == (
        "P1 (score 85: severity=high: +60, region=domestic: +0, affected_users=1500: +10, "
        "business_impact=normal: +5, regression=true: +10)"
    )


def test_unknown_severity_and_impact_fall_back_to_seed_defaults_with_a_note():
    result = assess_priority(PriorityInput(severity="blocker", business_impact="weird"))
    severity, _, _, impact, _ = result.contributions
    assert (severity.points, impact.points) == (40, 5)
    assert "unknown severity" in severity.note and "unknown impact" in impact.note


def test_labels_are_case_insensitive():
    assert assess_priority(PriorityInput(severity=" CRITICAL ", business_impact="Core")).score == 80 + 15


@pytest.mark.parametrize(("flag", "label"), [("data_loss", "data loss"), ("security_issue", "security issue")])
def test_data_loss_and_security_raise_the_level_without_changing_the_score(flag, label):
    result = assess_priority(PriorityInput(severity="low", **{flag: True}))
    assert (result.score, result.score_level, result.level) == (25, "P4", "P0")
    assert result.floor == f"raised to P0 for {label}"
    assert result.explain().endswith(f"; raised to P0 for {label}")


def test_floor_never_lowers_and_can_be_disabled():
    high = assess_priority(PriorityInput(severity="critical", is_regression=True, data_loss=True))
    assert (high.level, high.floor) == ("P0", None)
    config = PriorityConfig(data_loss_floor=None, security_floor="P2")
    assert assess_priority(PriorityInput(severity="low", data_loss=True), config).level == "P4"
    assert assess_priority(PriorityInput(severity="low", security_issue=True), config).level == "P2"


def test_weights_and_thresholds_are_configurable():
    config = PriorityConfig(
        severity_scores={"Critical": 50, "low": 5},
        user_tiers=[UserTier(above=100, points=3), UserTier(above=1_000_000, points=40)],
        regression_points=0,
        thresholds={"P0": 60, "P1": 40, "P2": 20, "P3": 10},
    )
    assert assess_priority(PriorityInput(severity="critical", affected_users=2_000_000), config).score == 50 + 40 + 5
    assert assess_priority(PriorityInput(severity="critical", affected_users=101), config).level == "P1"  # 58
    assert assess_priority(PriorityInput(severity="low", is_regression=True), config).level == "P3"


@pytest.mark.parametrize(
    "thresholds",
    [
        {"P0": 90, "P1": 95, "P2": 50, "P3": 30},
        {"P0": 90, "P1": 70, "P2": 50},
        {"P0": 90, "P1": 90, "P2": 50, "P3": 30},
    ],
)
def test_thresholds_must_be_complete_and_decreasing(thresholds):
    with pytest.raises(ValidationError):
        PriorityConfig(thresholds=thresholds)


def test_negative_affected_users_are_rejected():
    with pytest.raises(ValidationError):
        PriorityInput(affected_users=-1)


def _run_priority(lines: list[object], *args: str) -> list[dict]:
    stdin = "\n".join(line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines) + "\n"
    result = CliRunner().invoke(app, ["priority", "--now", "2024-05-06T01:00:00Z", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.output.splitlines()]


def test_cli_priority_scores_and_gives_due_times_on_the_region_clock():
    out = _run_priority(
        [
            {"id": "a", "severity": "critical", "region": "domestic", "business_impact": "core", "is_regression": True},
            {"severity": "low", "region": "international", "created_at": "2024-05-03T17:00:00+00:00"},
        ]
    )
    assert (out[0]["id"], out[0]["score"], out[0]["level"]) == ("a", 115, "P0")
    assert out[0]["sla"]["timezone"] == "Asia/Shanghai"
    assert out[0]["sla"]["response_due"] == "2024-05-06T10:00:00+08:00"  # --now is 09:00 Beijing time
    assert out[0]["sla"]["resolution_due"] == "2024-05-06T13:00:00+08:00"
    assert out[1]["level"] == "P4" and out[1]["sla"]["response_due"] == "2024-05-04T17:00:00+00:00"
    assert len(out[0]["contributions"]) == 5


def test_cli_priority_detects_the_region_and_can_count_business_hours():
    out = _run_priority(
        [{"severity": "high", "ip": "8.8.8.8", "created_at": "2024-05-03T17:00:00Z", "stage": "plan_review"}],
        "--business-hours",
    )
    assert out[0]["region"] == "international" and out[0]["region_detection"]["country"] == "US"
    assert out[0]["level"] == "P2"
    # 4 working hours from Friday 17:00 UTC: 1 h on Friday, 3 h on Monday.
    assert out[0]["sla"]["response_due"] == "2024-05-06T12:00:00+00:00"
    assert out[0]["sla"]["stage"] == "plan_review" and out[0]["sla"]["business_hours"] is True


def test_cli_priority_reports_bad_lines_and_keeps_going():
    out = _run_priority(
        [
            {"created_at": "2024-05-03T17:00:00"},
            {"stage": "nope"},
            {"affected_users": -3},
            "{",
            {"severity": "medium"},
        ]
    )
    assert "timezone" in out[0]["error"]
    assert "unknown stage" in out[1]["error"]
    assert out[2]["error"].startswith("affected_users")
    assert out[3]["error"].startswith("invalid JSON")
    assert out[4]["level"] == "P3" and out[4]["region"] == "unknown"


def test_cli_priority_rejects_a_naive_now():
    result = CliRunner().invoke(app, ["priority", "--now", "2024-05-06T01:00:00"], input="")
    assert result.exit_code == 2

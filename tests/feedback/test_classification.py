"""Intake classification: the real triage classifiers, the region rule and its reason, the SLA deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopdesk.feedback.classification import Contact, UnreadableReport, classify_report, decide_region
from loopdesk.triage.priority import LEVELS
from loopdesk.triage.region import RegionConfig
from loopdesk.triage.sla import DEFAULT_LEVELS

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CRASH_EN = ("App crashes on login", "Every time I tap login the app crashes and I cannot use it at all.")
WORDING_EN = ("Suggestion: rename the Save button", "It would be nicer if the button said Save draft.")
CRASH_ZH = ("登录时应用崩溃", "每次点击登录按钮应用就闪退，完全无法使用。")
WORDING_ZH = ("建议修改保存按钮的文字", "希望保存按钮能改成“保存草稿”，这样更清楚。")


def _rank(level: str) -> int:
    return LEVELS.index(level)  # P0 → 0: lower is more urgent


def test_a_crash_is_a_bug_ranked_above_a_wording_suggestion_in_english_and_chinese() -> None:
    for crash, wording, language in ((CRASH_EN, WORDING_EN, "en"), (CRASH_ZH, WORDING_ZH, "zh")):
        bug = classify_report(*crash, Contact(), received_at=AT)
        idea = classify_report(*wording, Contact(), received_at=AT)
        assert (bug.issue_type, idea.issue_type) == ("bug", "suggestion")
        assert bug.language == idea.language == language
        assert bug.priority.score > idea.priority.score
        assert _rank(bug.priority.level) <= _rank(idea.priority.level)
        assert bug.sla_deadline < idea.sla_deadline  # a more urgent level has a shorter resolution target


def test_the_sla_deadline_is_the_levels_resolution_target_on_the_regions_clock() -> None:
    found = classify_report(*CRASH_ZH, Contact(ip="1.2.4.8"), received_at=AT)
    assert found.region == "domestic"
    assert found.sla_deadline - AT == DEFAULT_LEVELS[found.priority.level].resolution
    assert str(found.sla_deadline.tzinfo) == "Asia/Shanghai"
    international = classify_report(*CRASH_ZH, Contact(ip="8.8.8.8"), received_at=AT)
    assert international.region == "international"
    assert international.sla_deadline.utcoffset() == timedelta(0)


def test_a_phone_number_decides_the_region_and_the_reason_names_it() -> None:
    region, reason = decide_region(Contact(phone="+86 138 0013 8000"), "en", RegionConfig())
    assert region == "domestic"
    assert reason["rule"] == "signals" and "phone" in reason["explanation"]
    region, reason = decide_region(Contact(phone="+1 650 253 0000"), "zh", RegionConfig())
    assert (region, reason["country"]) == ("international", "US")


def test_the_ip_outweighs_the_phone() -> None:
    region, reason = decide_region(Contact(ip="8.8.8.8", phone="+86 138 0013 8000"), "zh", RegionConfig())
    assert region == "international"
    assert {f["source"] for f in reason["factors"]} == {"ip", "phone"}


def test_without_usable_signals_the_language_decides_and_says_so() -> None:
    # A loopback address has no location: it is reported, and ignored.
    region, reason = decide_region(Contact(ip="127.0.0.1"), "zh", RegionConfig())
    assert (region, reason["rule"]) == ("domestic", "language_fallback")
    assert "'zh'" in reason["explanation"] and reason["factors"][0]["note"].startswith("loopback")
    region, reason = decide_region(Contact(), "en", RegionConfig())
    assert (region, reason["rule"], reason["country"]) == ("international", "language_fallback", None)


def test_a_report_with_nothing_to_classify_is_refused() -> None:
    with pytest.raises(UnreadableReport):
        classify_report("\x01\x02", "\x03", Contact(), received_at=AT)

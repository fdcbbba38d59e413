"""Message templates: Chinese for domestic tasks, English for international ones."""

from loopdesk.notifications.templates import render


def message(language, **overrides):
    values = {
        "event": "stage:plan_review",
        "task_number": "FB-2026-000042",
        "title": "支付页面崩溃",
        "stage": "plan_review",
        "priority": "P1",
        "link": "/tasks/FB-2026-000042",
    }
    return render(language, **{**values, **overrides})


def test_a_chinese_message_names_the_task_stage_priority_and_link_in_chinese() -> None:
    rendered = message("zh")
    assert rendered.subject == "[FB-2026-000042] 任务进入「方案评审」阶段：支付页面崩溃"
    assert "阶段：方案评审" in rendered.body
    assert "优先级：P1" in rendered.body
    assert "查看：/tasks/FB-2026-000042" in rendered.body


def test_an_english_message_names_the_same_in_english() -> None:
    rendered = message("en", title="Payment page crashes", event="sla_warning", note="80 % of the stage's limit")
    assert rendered.subject == "[FB-2026-000042] SLA at risk: Payment page crashes"
    assert "Stage: plan review" in rendered.body
    assert "Priority: P1" in rendered.body
    assert "Note: 80 % of the stage's limit" in rendered.body
    assert rendered.body.endswith("Open: /tasks/FB-2026-000042")


def test_a_title_with_line_breaks_stays_one_subject_line_and_a_long_one_is_cut() -> None:
    assert "\n" not in message("en", title="first\r\nBcc: someone@example.com").subject
    subject = message("en", title="x" * 400).subject
    assert len(subject) < 200 and subject.endswith("…")


def test_an_unknown_priority_reads_as_a_dash() -> None:
    assert "Priority: -" in message("en", priority=None).body

"""The shipped model on clear English and Chinese reports, and the shape of `classify` results."""

from __future__ import annotations

import pytest

from loopdesk.triage.issue_type import CATEGORIES, ISSUE_TYPES, SEVERITIES, classify, load_default
from loopdesk.triage.issue_type.pipeline import DEFAULT_MODEL_DIR

CLEAR_EXAMPLES = [
    ("bug", "App crashes when I click Save", "Steps to reproduce: open a document and click Save. The app closes."),
    ("bug", "Error 500 when uploading a profile picture", "Expected a new avatar, actual: Internal Server Error."),
    ("bug", "Export to CSV is broken since 2.4", "Traceback (most recent call last):\nKeyError: 'date'"),
    ("suggestion", "It would be nice to have dark mode", "Please add a dark theme option to the settings page."),
    ("suggestion", "Feature request: schedule recurring reports", "Would love the ability to email reports weekly."),
    ("suggestion", "Add support for exporting to PDF", "It would be great if reports could be saved as PDF files."),
    ("question", "How do I change my email address?", "I can't find it in the settings. Is there a way to do it?"),
    ("question", "Is it possible to invite external users?", "We want to share one project with a client. Thanks!"),
    ("question", "What is the best way to back up my data?", "Could someone point me to the docs?"),
    ("bug", "点击保存按钮后应用闪退", "复现步骤：打开文档，点击保存，应用直接崩溃。"),
    ("bug", "登录时报错：网络错误，请稍后重试", "升级到最新版以后一直无法登录，之前是正常的。"),
    ("bug", "订单列表显示的金额不正确", "期望结果：显示实付金额；实际结果：显示的是原价。"),
    ("suggestion", "建议增加深色模式", "希望能在设置里加一个夜间模式的开关。"),
    ("suggestion", "希望支持批量导出订单", "如果能一次导出所有订单就太好了，现在只能一页一页导。"),
    ("suggestion", "能否支持微信扫码登录", "其他产品都支持了，希望你们也考虑一下。"),
    ("question", "请问如何修改绑定的手机号？", "找不到入口，应该怎么操作？"),
    ("question", "怎么开具发票？", "刚开始用，不太熟悉，想问一下在哪里申请。"),
    ("question", "请问会员可以退款吗？", "想了解一下退款规则，谢谢！"),
]


@pytest.mark.parametrize(("expected", "title", "body"), CLEAR_EXAMPLES, ids=[e[1] for e in CLEAR_EXAMPLES])
def test_default_model_gets_clear_reports_right(expected, title, body):
    result = next(classify([{"title": title, "body": body}]))
    assert result["issue_type"] == expected, result


def test_a_result_carries_type_confidence_scores_severity_category_and_language():
    result = next(classify([{"id": "t-1", "title": "App crashes on login", "body": "Every time, on iOS 17."}]))
    assert result["id"] == "t-1"
    assert set(result["scores"]) == set(ISSUE_TYPES)
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["confidence"] == max(result["scores"].values())
    assert result["issue_type"] == max(result["scores"], key=result["scores"].get)
    assert result["severity"] in SEVERITIES
    assert result["category"] in CATEGORIES
    assert result["language"] == "en"


def test_classify_keeps_order_and_answers_unreadable_items_with_an_error():
    items = [{"title": "How do I reset my password?"}, {"title": "", "body": "  "}, "not an object", {"body": "崩溃了"}]
    results = list(classify(items, batch_size=2))
    assert [r.get("issue_type") for r in results] == ["question", None, None, "bug"]
    assert results[1]["error"] == "empty_text"
    assert results[2]["error"] == "invalid_item"


def test_title_only_and_body_only_items_are_classified():
    results = list(classify([{"title": "Please add keyboard shortcuts"}, {"body": "How can I export my invoices?"}]))
    assert [r["issue_type"] for r in results] == ["suggestion", "question"]


def test_the_shipped_model_is_small_and_trained_on_the_seed_corpus_only():
    model = load_default()
    assert "seed" in model.info["config"]["corpus"]
    assert model.domains == ()
    size = sum(path.stat().st_size for path in DEFAULT_MODEL_DIR.iterdir())
    assert size < 2_000_000, f"the shipped model is {size} bytes"

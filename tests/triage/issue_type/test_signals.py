"""Severity, category, language and input cleaning: the rule-based parts of a classification."""

from __future__ import annotations

import pytest

from loopdesk.triage.issue_type import category_of, detect_language, severity_of
from loopdesk.triage.issue_type.rules import N_FEATURES, hand_features
from loopdesk.triage.issue_type.text import MAX_INPUT_CHARS, InvalidItem, clean_body, to_document


@pytest.mark.parametrize(
    ("issue_type", "title", "body", "expected"),
    [
        ("bug", "Export deletes rows", "After the export we had data loss in two tables.", "critical"),
        ("bug", "XSS in the comment field", "A security vulnerability: scripts run in comments.", "critical"),
        ("bug", "Site is down", "Production is down for all users since 9:00.", "critical"),
        ("bug", "服务宕机", "从早上开始所有用户都无法访问。", "critical"),
        ("bug", "支付后重复扣款", "同一个订单扣了两次钱。", "critical"),
        ("bug", "App crashes on launch", "It crashes right after the splash screen.", "high"),
        ("bug", "无法登录", "输入密码后提示错误，一直登录不了。", "high"),
        ("bug", "Cannot log in with SSO", "", "high"),
        ("bug", "Wrong total on the invoice", "The total ignores the discount.", "medium"),
        ("bug", "Typo on the pricing page", "'Anual' should be 'Annual'.", "low"),
        ("bug", "首页有错别字", "", "low"),
        ("suggestion", "Add dark mode", "", "low"),
        ("question", "How do I recover after data loss?", "", "high"),
        ("question", "Why does the app crash on start?", "", "medium"),
    ],
)
def test_severity_follows_impact_keywords_and_issue_type(issue_type, title, body, expected):
    assert severity_of(issue_type, title, body) == expected


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Cannot log in after password reset", "", "account"),
        ("收不到验证码，登录不了", "", "account"),
        ("Refund for a double charge", "My invoice shows two payments.", "billing"),
        ("申请退款", "会员自动续费扣款了", "billing"),
        ("Dashboard is very slow", "Loading takes 30 seconds, then times out.", "performance"),
        ("页面卡顿", "打开列表延迟很高", "performance"),
        ("Button overlaps the menu", "The layout breaks on small screens.", "ui"),
        ("CSV export misses rows", "The exported file has fewer records than the table.", "data"),
        ("Webhook retries", "Our Slack integration stops after the API returns 429.", "integration"),
        ("钉钉集成", "回调接口没有收到消息", "integration"),
        ("Just wanted to say thanks", "Keep up the good work.", "other"),
    ],
)
def test_category_comes_from_the_keyword_taxonomy(title, body, expected):
    assert category_of(title, body) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The app crashes when I open the settings page and nothing is saved.", "en"),
        ("Crash on save", "en"),
        ("登录页面点击 Login 按钮报错 500", "zh"),
        ("点击保存按钮后应用闪退", "zh"),
        ("ログインするとアプリがクラッシュしてしまいます", "ja"),
        ("로그인하면 앱이 종료됩니다", "ko"),
        ("Die Anwendung stürzt jedes Mal ab, wenn ich auf Speichern klicke.", "de"),
        ("L'application se ferme quand je clique sur le bouton enregistrer.", "fr"),
        ("Приложение падает при запуске", "ru"),
        ("The user 张三 cannot log in to the dashboard after the update today.", "en"),
        ("12345 !!! ???", "unknown"),
        ("", "unknown"),
    ],
)
def test_language_uses_scripts_first_then_lingua(text, expected):
    assert detect_language(text) == expected


def test_body_cleaning_drops_comments_urls_and_code_but_marks_code():
    body = "<!-- template hint -->Broken, see https://x.test/a\n```\nTraceback\n```\n_No response_"
    cleaned = clean_body(body)
    assert "template hint" not in cleaned and "x.test" not in cleaned and "Traceback" not in cleaned
    assert "URL" in cleaned and "CODEBLOCK" in cleaned and "No response" not in cleaned


def test_documents_are_bounded_and_stripped_of_control_characters():
    doc = to_document({"title": "a\x00b\x1b", "body": "x" * (MAX_INPUT_CHARS * 3)})
    assert doc.title == "a b"
    assert len(doc.raw_body) <= MAX_INPUT_CHARS


@pytest.mark.parametrize(
    ("item", "code"),
    [({}, "empty_text"), ({"title": None, "body": " \n"}, "empty_text"), ([], "invalid_item"),
     ({"title": {"a": 1}}, "invalid_field"), ({"title": True}, "invalid_field")],
)  # fmt: skip
def test_unreadable_items_raise_with_a_stable_code(item, code):
    with pytest.raises(InvalidItem) as caught:
        to_document(item)
    assert caught.value.code == code


def test_numbers_are_read_as_text():
    assert to_document({"title": 404, "body": 1.5}).title == "404"


def test_hand_features_see_stack_traces_and_question_marks():
    features = hand_features(to_document({"title": "Why?", "body": 'File "a.py", line 3\nValueError: bad'}))
    assert len(features) == N_FEATURES
    plain = hand_features(to_document({"title": "Add a button", "body": "Nice to have."}))
    assert sum(features) > sum(plain)

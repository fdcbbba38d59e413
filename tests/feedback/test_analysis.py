"""Log analysis of a task: the pure parts (keywords, module inference, value / effort, reading a model's answer),
then `analyze_task` against a real log store holding a planted incident (a burst of gateway timeouts in
`payments`, quiet traffic and a burst of its own in `search`), by rules and by a scripted model."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.settings import FeedbackSettings, LLMSettings, Settings
from loopdesk.feedback._analysis_suggestion import value_effort
from loopdesk.feedback._analysis_text import collapse, keywords, mapped_modules, named_modules, trace_ids
from loopdesk.feedback._analysis_writing import RULES, UnusableAnswer, parse_answer
from loopdesk.feedback.analysis import analyze_task, merge_runs
from loopdesk.feedback.models import Task
from loopdesk.feedback.service import DEDUP_KIND
from loopdesk.llm.scripted import ScriptedChatModel
from loopdesk.triage.anomalies import Anomaly
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.store.ingest import JsonLinesParser
from loopdesk.triage.store.service import LogService
from loopdesk.triage.store.writer import miner_templater
from loopdesk.users.models import User

REPORTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
INCIDENT = (REPORTED - timedelta(minutes=30), REPORTED - timedelta(minutes=20))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OUTPUT_FIELDS = {
    "related_logs_count", "sample_logs", "anomaly_patterns", "log_patterns", "root_cause_hypothesis",
    "recommendation", "confidence_score", "modules", "keywords", "window", "method",
}  # fmt: skip
PAYMENT_BUG = {
    "title": "Checkout payment fails with a gateway timeout",
    "description": "Since this morning paying by card at checkout spins for a long while and then fails.",
}
PAYMENT_BUG_ZH = {"title": "支付一直超时", "description": "下午用银行卡支付，订单提交后一直转圈，最后提示支付失败。"}


# -- pure parts --------------------------------------------------------------------------------------------------


class TestKeywords:
    def test_stop_words_numbers_and_ids_are_dropped(self) -> None:
        words = keywords(f"The app fails: payment gateway timeout after 3000 ms, trace {TRACE}")
        assert words == ["payment", "gateway", "timeout", "ms", "trace"]

    def test_chinese_runs_give_bigrams_between_function_words(self) -> None:
        assert keywords("支付一直超时") == ["支付", "超时"]
        assert keywords("订单的退款") == ["订单", "退款"]

    def test_at_most_twenty_keywords_in_order_of_appearance(self) -> None:
        text = " ".join(f"word{i}" for i in range(30))
        assert keywords(text) == [f"word{i}" for i in range(20)]

    def test_a_quoted_trace_id_is_found(self) -> None:
        assert trace_ids(f"see trace {TRACE.upper()} and {TRACE}") == [TRACE]
        assert trace_ids("order 12345678901234567890123456789012345") == []


class TestModules:
    KNOWN = {"payments", "payments.api", "search", "shop.checkout", "api", "app"}

    def test_a_module_is_named_by_its_name_or_a_dotted_segment_singular_or_plural(self) -> None:
        assert named_modules("Payment fails at checkout", self.KNOWN) == ["payments", "shop.checkout"]
        assert named_modules("payments.api returns 500", self.KNOWN) == ["payments"]

    def test_generic_names_and_unmentioned_modules_are_not_named(self) -> None:
        assert named_modules("The app shows an API error when I research prices", self.KNOWN) == []

    def test_the_keyword_map_names_modules_in_either_language(self) -> None:
        mapping = {"支付": ["payments"], "checkout": ["payments", "cart"], "refund": ["billing"]}
        assert mapped_modules("支付失败", mapping) == (["payments"], ["支付"])
        assert mapped_modules("Checkout is slow", mapping) == (["payments", "cart"], ["checkout"])
        assert mapped_modules("checkouts", mapping) == ([], [])  # whole words only

    def test_a_parent_covers_its_children(self) -> None:
        assert collapse(["payments.api", "search", "payments", "search"]) == ["search", "payments"]


class TestValueEffort:
    def test_demand_raises_the_value_and_breadth_the_effort(self) -> None:
        quiet = value_effort(users=0, reporters=1, similar=0, error_share=0.0, modules=1)
        wanted = value_effort(users=120, reporters=3, similar=2, error_share=0.2, modules=1)
        broad = value_effort(users=120, reporters=3, similar=2, error_share=0.2, modules=4)
        assert (quiet.value, quiet.effort) == (1.0, 1.0)
        assert wanted.value == 5.0 and wanted.score > broad.score and broad.effort == 3.2
        assert wanted.verdict.startswith("a quick win") and quiet.verdict.startswith("a fill-in")
        assert any("120 distinct users" in reason for reason in wanted.reasons)

    def test_an_unknown_area_costs_discovery(self) -> None:
        score = value_effort(users=5, reporters=1, similar=0, error_share=0.0, modules=0)
        assert score.effort == 3.0 and "no module identified" in score.reasons[-1]


class TestMergeRuns:
    def test_consecutive_intervals_of_one_metric_are_one_anomaly_at_its_worst(self) -> None:
        def at(minute: int, metric: str = "error_rate", severity: str = "low", score: float = 4.0) -> Anomaly:
            start = REPORTED + timedelta(minutes=minute)
            end = start + timedelta(minutes=5)
            return Anomaly(start, end, metric, score / 10, 0.1, severity, "robust_zscore", score)  # type: ignore[arg-type]

        merged = merge_runs([at(5, severity="high", score=12.0), at(0), at(10), at(20), at(5, metric="latency_ms")])
        assert [(a.metric, a.start.minute, a.end.minute, a.severity, a.count) for a in merged] == [
            ("error_rate", 0, 15, "high", 3),
            ("error_rate", 20, 25, "low", 1),
            ("latency_ms", 5, 10, "low", 1),
        ]
        assert (merged[0].score, merged[0].value) == (12.0, 1.2)


class TestModelAnswer:
    def test_a_json_object_is_read_also_inside_a_code_fence(self) -> None:
        answer = '```json\n{"root_cause_hypothesis": "the gateway", "recommendation": "raise the pool"}\n```'
        assert parse_answer(answer) == ("the gateway", "raise the pool")

    @pytest.mark.parametrize(
        "answer",
        ["I think it is the gateway.", '{"root_cause_hypothesis": "x"}', '{"root_cause_hypothesis": "x", '
         '"recommendation": ""}', "[1, 2]", "{not json}"],
    )  # fmt: skip
    def test_anything_else_is_refused(self, answer: str) -> None:
        with pytest.raises(UnusableAnswer):
            parse_answer(answer)


class TestSettings:
    def test_the_analysis_model_must_be_a_named_model(self) -> None:
        feedback = FeedbackSettings(feedback_analysis_model="analyst", _env_file=None)
        with pytest.raises(ValidationError, match="not a model of LOOPDESK_LLM_MODELS"):
            Settings(feedback=feedback, llm=LLMSettings(_env_file=None))
        named = LLMSettings(llm_models={"analyst": {"provider": "offline"}}, _env_file=None)
        assert Settings(feedback=feedback, llm=named).feedback.feedback_analysis_model == "analyst"

    def test_the_keyword_map_takes_a_module_or_a_list(self, monkeypatch) -> None:
        monkeypatch.setenv("LOOPDESK_FEEDBACK_MODULE_KEYWORDS", '{"支付": "payments", " cart ": ["cart", "cart"]}')
        assert FeedbackSettings(_env_file=None).feedback_module_keywords == {"支付": ["payments"], "cart": ["cart"]}
        with pytest.raises(ValidationError, match="at least one module"):
            FeedbackSettings(feedback_module_keywords={"refund": []}, _env_file=None)


# -- against the log store ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysis_db(pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"loopdesk_analysis_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_db))
        )
    yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
async def database(analysis_db: str) -> AsyncIterator[Database]:
    db = Database.connect(analysis_db, pool_size=2, max_overflow=0)
    yield db
    await db.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """The incident's logs, ingested for this test and rolled back after it."""
    async with database.sessionmaker() as db_session:
        await db_session.begin()
        try:
            report = await LogService(db_session).ingest(
                JsonLinesParser(), _lines(incident_logs()), templater=miner_templater()
            )
            assert report.rejected == 0, report.errors
            yield db_session
        finally:
            await db_session.rollback()


async def _lines(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def _log(at: datetime, level: str, module: str, message: str, **fields: Any) -> bytes:
    return orjson.dumps({"ts": at.isoformat(), "level": level, "module": module, "msg": message, **fields})


def incident_logs() -> list[bytes]:
    """Three quiet hours of `payments` and `search` before the report; 10 minutes of gateway timeouts in payments
    (the incident); an earlier burst in search; and last week's payments timeouts, outside any window."""
    start = REPORTED - timedelta(hours=3)
    logs = []
    for i in range(180):
        at = start + timedelta(minutes=i)
        who = {"user_id": f"u{i % 40}", "session_id": f"s{i % 60}"}
        logs.append(_log(at, "info", "payments.api", f"payment pay-{i} captured in {40 + i % 30} ms", **who))
        logs.append(_log(at, "info", "search", f"search query for item-{i} took {10 + i % 7} ms"))
        if i % 30 == 0:
            logs.append(_log(at, "error", "search", f"search query timeout on shard {i % 4}"))
    for second in range(0, 600, 10):
        at = INCIDENT[0] + timedelta(seconds=second)
        order = f"ord-{second}"
        logs.append(_log(at, "error", "payments.api", f"Payment gateway timeout after 3000 ms (order {order})"))
    for second in range(0, 600, 12):
        at = REPORTED - timedelta(hours=2) + timedelta(seconds=second)
        logs.append(_log(at, "error", "search", f"index shard {second % 5} unavailable"))
    logs.append(_log(INCIDENT[0] + timedelta(minutes=3), "error", "payments.api", "card charge failed", trace_id=TRACE))
    for i in range(20):
        at = REPORTED - timedelta(days=7) + timedelta(minutes=i)
        logs.append(_log(at, "error", "payments.api", f"Payment gateway timeout after 3000 ms (order old-{i})"))
    return logs


def report(body: dict[str, str], **fields: Any) -> Task:
    """An unsaved task: the analysis reads its fields only (the suggestion path also looks up other tasks)."""
    values = {"id": uuid.uuid4(), "issue_type": "bug", "language": "en", "created_at": REPORTED, "reporter_count": 1}
    return Task(**{**values, **body, **fields})


def settings(**feedback: Any) -> Settings:
    models = feedback.pop("models", {})
    return Settings(
        feedback=FeedbackSettings(**feedback, _env_file=None), llm=LLMSettings(llm_models=models, _env_file=None)
    )


def within(moment: str, start: datetime, end: datetime) -> bool:
    return start <= datetime.fromisoformat(moment) < end


class TestRules:
    async def test_the_planted_incident_is_found_in_the_module_the_report_names(self, session) -> None:
        analysis = await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=settings())
        result = analysis.as_log_analysis()
        json.dumps(result)  # what tasks.log_analysis (JSONB) takes
        assert OUTPUT_FIELDS <= result.keys()
        assert result["modules"] == ["payments"] and result["search"] == "keywords_and_modules"
        assert {"payment", "gateway", "timeout", "checkout", "card"} <= set(result["keywords"])
        assert result["window"]["start"] == (REPORTED - timedelta(hours=24)).isoformat()
        assert result["window"]["end"] == (REPORTED + timedelta(hours=1)).isoformat()
        incident = result["anomaly_patterns"][0]
        assert (incident["module"], incident["metric"], incident["severity"]) == ("payments", "error_rate", "high")
        assert (incident["start"], incident["end"]) == (INCIDENT[0].isoformat(), INCIDENT[1].isoformat())
        assert len(result["anomaly_patterns"]) == 1  # its two 5-minute intervals are one finding
        assert incident["dominant_error"] == "Payment gateway timeout after <*> ms (order <*>)"
        assert (incident["dominant_error_count"], incident["errors"]) == (60, 61)
        samples = result["sample_logs"]
        assert 0 < len(samples) <= 10 and all(s["level"] == "error" for s in samples)
        assert set(samples[0]) == {"time", "level", "module", "message", "trace_id"}
        counts = [p["count"] for p in result["log_patterns"]]
        assert counts == sorted(counts, reverse=True) and result["related_logs_count"] == sum(counts)
        assert result["method"] == "rules" and result["model"] is None
        assert result["root_cause_hypothesis"].startswith(RULES)
        assert "2026-11-30 11:30–11:40 UTC the error rate of payments rose to" in result["root_cause_hypothesis"]
        assert "Payment gateway timeout" in result["recommendation"]
        assert 0.7 <= result["confidence_score"] <= 1.0

    async def test_unrelated_modules_logs_and_records_outside_the_window_are_not_picked(self, session) -> None:
        result = (await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=settings())).as_log_analysis()
        window = (REPORTED - timedelta(hours=24), REPORTED + timedelta(hours=1))
        assert all(s["module"] == "payments.api" and within(s["time"], *window) for s in result["sample_logs"])
        assert all(p["modules"] == ["payments.api"] for p in result["log_patterns"])
        assert not any("search" in p["template"] or "shard" in p["template"] for p in result["log_patterns"])
        assert {a["module"] for a in result["anomaly_patterns"]} == {"payments"}
        assert (
            result["related_logs_count"] == 180 + 60 + 1
        )  # captures, timeouts and the traced failure: not last week's

    async def test_a_chinese_report_reaches_the_module_through_the_keyword_map(self, session) -> None:
        configured = settings(feedback_module_keywords={"支付": "payments"})
        task = report(PAYMENT_BUG_ZH, language="zh")
        result = (await analyze_task(session, task, now=REPORTED, settings=configured)).as_log_analysis()
        assert result["modules"] == ["payments"] and result["module_sources"]["keyword_map"] == ["payments"]
        assert result["search"] == "modules"  # its words are not the logs' words: the module's records decide
        assert result["anomaly_patterns"][0]["dominant_error"] == "Payment gateway timeout after <*> ms (order <*>)"
        assert result["method"] == "rules" and result["confidence_score"] >= 0.6

    async def test_a_quoted_trace_brings_its_record(self, session) -> None:
        task = report({**PAYMENT_BUG, "description": f"It failed again, trace id {TRACE}."})
        result = (await analyze_task(session, task, now=REPORTED, settings=settings())).as_log_analysis()
        assert result["trace_ids"] == [TRACE]
        assert any(s["trace_id"] == TRACE and s["message"] == "card charge failed" for s in result["sample_logs"])

    async def test_a_short_lookback_misses_the_incident_and_confidence_drops(self, session) -> None:
        short = settings(feedback_analysis_lookback_hours=0.25)
        full = await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=settings())
        result = (await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=short)).as_log_analysis()
        assert result["window"]["lookback_hours"] == 0.25
        assert all(within(s["time"], REPORTED - timedelta(minutes=15), REPORTED) for s in result["sample_logs"])
        assert result["anomaly_patterns"] == [] and result["confidence_score"] < full.confidence_score

    async def test_a_report_the_logs_know_nothing_about_says_so_with_low_confidence(self, session) -> None:
        task = report({"title": "Dark mode colours", "description": "The sidebar contrast is poor in dark mode."})
        result = (await analyze_task(session, task, now=REPORTED, settings=settings())).as_log_analysis()
        assert (result["modules"], result["related_logs_count"], result["anomaly_patterns"]) == ([], 0, [])
        assert "no logs related to the report" in result["root_cause_hypothesis"]
        assert result["confidence_score"] == 0.0


ANSWER = {"root_cause_hypothesis": "The payment gateway timed out.", "recommendation": "Raise its pool size."}


def scripted(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"analyst": {"provider": "scripted", "script": list(turns)}}


class TestModel:
    async def test_the_configured_model_writes_from_the_evidence(self, session) -> None:
        # The turn plays only if the prompt carries the evidence: the module and the incident's template.
        turn = {"expect": r"(?s)payments.*Payment gateway timeout after <\*> ms", "content": json.dumps(ANSWER)}
        configured = settings(feedback_analysis_model="analyst", models=scripted(turn))
        by_rules = await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=settings())
        result = (await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=configured)).as_log_analysis()
        assert (result["method"], result["model"], result["model_error"]) == ("llm", "analyst", None)
        assert result["root_cause_hypothesis"] == ANSWER["root_cause_hypothesis"]
        assert result["recommendation"] == ANSWER["recommendation"]
        assert result["confidence_score"] == by_rules.confidence_score  # the evidence's, whoever writes

    @pytest.mark.parametrize(
        ("turn", "error"),
        [
            ({"content": "It is probably the gateway."}, "UnusableAnswer"),
            ({"expect": "^never matches$", "content": json.dumps(ANSWER)}, "ScriptMismatchError"),
        ],
    )
    async def test_a_model_failure_falls_back_to_the_rules(self, session, turn, error) -> None:
        configured = settings(feedback_analysis_model="analyst", models=scripted(turn))
        result = (await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=configured)).as_log_analysis()
        assert (result["method"], result["model"]) == ("rules", "analyst")
        assert result["model_error"].startswith(error)
        assert result["root_cause_hypothesis"].startswith(RULES) and "payments" in result["root_cause_hypothesis"]

    async def test_a_model_given_by_the_caller_overrides_the_settings(self, session) -> None:
        model = ScriptedChatModel.load([{"content": f"```json\n{json.dumps(ANSWER)}\n```"}])
        analysis = await analyze_task(session, report(PAYMENT_BUG), now=REPORTED, settings=settings(), model=model)
        assert (analysis.method, analysis.recommendation) == ("llm", ANSWER["recommendation"])


# -- suggestions -------------------------------------------------------------------------------------------------

IDEA = {"title": "Let me save my card for faster payment", "description": "Paying means typing my card every time."}


async def saved_task(session: AsyncSession, reporter: User, body: dict[str, str], **fields: Any) -> Task:
    values = {
        "id": uuid.uuid4(),
        "task_number": f"FB-2026-{uuid.uuid4().int % 10**6:06d}",
        "issue_type": "suggestion",
        "source_channel": "web",
        "reporter_id": reporter.id,
        "workflow_stage": "classified",
        "created_at": REPORTED,
    }
    task = Task(**{**values, **body, **fields})
    session.add(task)
    await session.flush()
    await dedup.index_item(session, task.id, DEDUP_KIND, f"{task.title}\n{task.description}", owner_id=reporter.id)
    return task


class TestSuggestion:
    async def test_users_of_the_area_similar_open_suggestions_and_a_value_effort_score(self, session) -> None:
        reporter = User(email=f"r-{uuid.uuid4().hex[:6]}@example.com", display_name="r", password_hash="!")
        session.add(reporter)
        await session.flush()
        twin = await saved_task(session, reporter, IDEA)
        await saved_task(session, reporter, IDEA, workflow_stage="closed")  # closed: not counted
        await saved_task(session, reporter, IDEA, issue_type="bug")  # not a suggestion
        await saved_task(session, reporter, {"title": "Export to CSV", "description": "Export invoices as CSV."})
        task = await saved_task(session, reporter, IDEA, reporter_count=2)

        result = (await analyze_task(session, task, now=REPORTED, settings=settings())).as_log_analysis()
        assert result["modules"] == ["payments"]
        assert result["users_affected"] == {
            "users": 40, "sessions": 60, "records": 180 + 60 + 1, "errors": 61, "source": "module logs",
        }  # fmt: skip
        assert result["similar_suggestions"]["count"] == 1
        assert result["similar_suggestions"]["tasks"][0]["task_number"] == twin.task_number
        score = result["value_effort"]
        assert score["value"] == 4.1 and score["effort"] == 1.0 and score["score"] == 4.1
        assert score["verdict"].startswith("a quick win") and len(score["reasons"]) >= 3
        assert result["root_cause_hypothesis"].startswith(RULES) and twin.task_number in result["root_cause_hypothesis"]
        assert result["recommendation"].startswith("Value 4.1/5 against effort 1.0/5")

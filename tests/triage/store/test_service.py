"""The store against PostgreSQL: batched COPY ingest with templates, filtered listing, related_logs ranking,
per-interval metrics. Each test's writes are rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select, text

from loopdesk.triage.store.ingest import JsonLinesParser
from loopdesk.triage.store.models import LogRecord
from loopdesk.triage.store.schemas import LogQuery
from loopdesk.triage.store.series import find_anomalies, interval_metrics
from loopdesk.triage.store.service import LogService, related_logs
from loopdesk.triage.store.writer import LogWriter, template_id

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def line(minutes: float, message: str, **fields) -> bytes:
    return orjson.dumps({"ts": (T0 + timedelta(minutes=minutes)).isoformat(), "msg": message, **fields})


async def lines(*items: bytes):
    for item in items:
        yield item


async def ingest(session, *items: bytes, templater=None) -> None:
    report = await LogService(session).ingest(JsonLinesParser(), lines(*items), templater=templater)
    assert report.rejected == 0, report.errors


async def test_ingest_copies_in_batches_and_reports_bad_lines(session):
    batches: list[int] = []
    writer = LogWriter(session, batch_size=3, after_batch=lambda: _count(batches))
    parser = JsonLinesParser()
    for number, raw in enumerate([line(i, f"m{i}", level="info") for i in range(7)] + [b"{oops"], start=1):
        await writer.add_all(parser.feed(number, raw))
    report = await writer.close()
    assert (report.accepted, report.rejected, [e.line for e in report.errors]) == (7, 1, [8])
    assert len(batches) == 3  # 3 + 3 + 1
    assert await session.scalar(select(func.count()).select_from(LogRecord)) == 7


async def _count(batches: list[int]) -> None:
    batches.append(1)


async def test_templates_are_filled_by_the_templater_with_stable_ids(session):
    await ingest(
        session,
        line(0, "user alice logged in from 10.0.0.1"),
        line(1, "user bob logged in from 10.0.0.2\nsecond line is not templated"),
        templater=lambda message: "user <*> logged in from <*>" if message.startswith("user ") else None,
    )
    rows = (await session.scalars(select(LogRecord).order_by(LogRecord.ts))).all()
    assert {r.template for r in rows} == {"user <*> logged in from <*>"}
    assert {r.template_id for r in rows} == {template_id("user <*> logged in from <*>")}
    assert template_id("x") < 2**53


async def test_a_failing_templater_leaves_templates_empty_but_stores_the_logs(session):
    def broken(message: str) -> str:
        raise RuntimeError("miner bug")

    await ingest(session, line(0, "a"), line(1, "b"), templater=broken)
    rows = (await session.scalars(select(LogRecord))).all()
    assert len(rows) == 2 and all(r.template is None for r in rows)


async def test_the_template_miner_is_used_when_installed(session):
    pytest.importorskip("loopdesk.triage.logs.templates")
    from loopdesk.triage.store.writer import miner_templater

    templater = miner_templater()
    await ingest(session, *(line(i, f"payment {1000 + i} failed after {i}s") for i in range(3)), templater=templater)
    templates = set((await session.scalars(select(LogRecord.template))).all())
    assert all(t and "<*>" in t for t in templates)


async def test_list_filters_by_time_level_service_module_trace_and_text(session):
    await ingest(
        session,
        line(0, "Checkout TIMEOUT at bank", level="error", service="shop", module="payments.api", trace_id="AB" * 16),
        line(5, "checkout ok", level="info", service="shop", module="payments"),
        line(10, "cache warm", level="debug", service="shop", module="paymentsx"),
        line(15, "disk 100% full", level="fatal", service="infra", module="disk"),
        line(60, "late timeout", level="warn", service="shop", module="payments.api"),
    )
    service = LogService(session)

    async def messages(**filters) -> list[str]:
        rows, total = await service.list(LogQuery(**filters))
        assert total == len(rows)
        return [r.message for r in rows]

    first_quarter = await messages(start=T0, end=T0 + timedelta(minutes=15))
    assert first_quarter == ["cache warm", "checkout ok", "Checkout TIMEOUT at bank"]
    assert await messages(min_level="warn") == ["late timeout", "disk 100% full", "Checkout TIMEOUT at bank"]
    assert await messages(level=["info", "debug"]) == ["cache warm", "checkout ok"]
    assert await messages(module="payments") == ["late timeout", "checkout ok", "Checkout TIMEOUT at bank"]
    assert await messages(service="infra") == ["disk 100% full"]
    assert await messages(trace_id="AB" * 16) == ["Checkout TIMEOUT at bank"]
    assert await messages(q="timeout") == ["late timeout", "Checkout TIMEOUT at bank"]
    assert await messages(q="100%") == ["disk 100% full"]  # LIKE wildcards are literal
    rows, total = await service.list(LogQuery(limit=2, offset=1))
    assert ([r.message for r in rows], total) == (["disk 100% full", "cache warm"], 5)


async def test_related_logs_rank_the_trace_first_then_keyword_hits_then_recency(session):
    trace = "0af7651916cd43dd8448eb211c80319c"
    await ingest(
        session,
        line(0, "payment declined: card expired", module="payments.api", level="error"),
        line(1, "payment timeout talking to bank", module="payments.api", level="error"),
        line(2, "payment ok", module="payments.api"),
        line(3, "bank timeout, payment retried", module="payments.worker", level="warn"),
        line(4, "timeout in search", module="search"),
        line(5, "gateway received request", module="gateway", trace_id=trace),
        line(6, "timeout budget exceeded", module="orders", level="error", trace_id=trace),
        line(90, "payment timeout much later", module="payments.api"),
    )
    found = await related_logs(
        session,
        keywords=["timeout", "payment"],
        modules=["payments"],
        time_range=(T0, T0 + timedelta(minutes=30)),
        trace_id=trace.upper(),
    )
    assert [r.message for r in found] == [
        "timeout budget exceeded",  # on the trace, and a keyword
        "gateway received request",  # on the trace
        "bank timeout, payment retried",  # two keywords, newer
        "payment timeout talking to bank",  # two keywords
        "payment ok",  # one keyword, newer
        "payment declined: card expired",
    ]
    assert found[0].trace_match and found[0].matched_keywords == ("timeout",)
    assert (found[2].keyword_hits, found[2].matched_keywords) == (2, ("timeout", "payment"))
    assert not found[2].trace_match


async def test_related_logs_without_keywords_or_trace_are_the_modules_newest_first(session):
    await ingest(session, line(0, "a", service="search"), line(1, "b", module="search.index"), line(2, "c"))
    assert [r.message for r in await related_logs(session, modules=["search"])] == ["b", "a"]
    assert [r.message for r in await related_logs(session, limit=1)] == ["c"]
    assert await related_logs(session, keywords=["50%_"]) == []


async def test_keyword_search_can_use_the_trigram_index(session):
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        (await session.execute(text("EXPLAIN SELECT id FROM log_records WHERE message ILIKE '%timeout%'"))).scalars()
    )
    assert "ix_log_records_message_trgm" in plan


async def test_interval_metrics_count_errors_and_latency_per_interval(session):
    await ingest(
        session,
        line(1, "ok", level="info", latency_ms=100),
        line(2, "ok", level="info", duration_ms=300),
        line(3, "bad", level="error", latency_ms="n/a"),
        line(65, "bad", level="fatal"),
        line(200, "outside the range"),
    )
    metrics = await interval_metrics(session, start=T0, end=T0 + timedelta(hours=3), step=timedelta(hours=1))
    assert metrics.totals.tolist() == [3, 1, 0]
    assert metrics.errors.tolist() == [1, 1, 0]
    rates = metrics.error_rate().values
    assert rates[0] == pytest.approx(1 / 3) and rates[1] == 1.0 and rates[2] != rates[2]
    assert metrics.latency_p95[0] == pytest.approx(290.0)


async def test_find_anomalies_flags_an_error_spike_and_a_latency_outlier(session):
    items = []
    for hour in range(30):
        for i in range(20):
            errors = 12 if hour == 25 else 1
            level = "error" if i < errors else "info"
            latency = 5000 if (hour == 27 and i == 0) else 100 + (i % 5) * 10
            items.append(line(hour * 60 + i, f"request {i}", level=level, latency_ms=latency))
    await ingest(session, *items)
    _, anomalies = await find_anomalies(session, start=T0, end=T0 + timedelta(hours=30), step=timedelta(hours=1))
    found = {(a.metric, a.start, a.detector) for a in anomalies}
    assert found == {
        ("error_rate", T0 + timedelta(hours=25), "robust_zscore"),
        ("latency_ms", T0 + timedelta(hours=27), "iqr"),
    }
    assert all(a.severity == "high" for a in anomalies)

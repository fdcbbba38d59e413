"""Line parsers and body handling: no database."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from loopdesk.core.errors import BadRequest, PayloadTooLarge
from loopdesk.triage.store.body import decoded, read_all, split_lines
from loopdesk.triage.store.fields import LineError, ParsedLog, normalize_level, parse_timestamp
from loopdesk.triage.store.ingest import (
    MAX_LINE,
    JsonLinesParser,
    PatternError,
    TextParser,
    compile_pattern,
    parse_lines,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _split(items):
    return [i for i in items if isinstance(i, ParsedLog)], [i for i in items if isinstance(i, LineError)]


class TestJsonLines:
    def test_common_aliases_map_to_the_columns_and_the_rest_to_attributes(self):
        line = (
            b'{"@timestamp": "2026-11-30T10:00:00.5Z", "severity": "WARNING", "message": "slow query",'
            b' "app": "billing", "logger": "billing.db", "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736",'
            b' "spanId": "00F067AA0BA902B7", "latency_ms": 812, "user": {"id": 7}}'
        )
        [record] = list(parse_lines(JsonLinesParser(now=NOW), [line]))
        assert record == ParsedLog(
            ts=datetime(2026, 11, 30, 10, 0, 0, 500000, tzinfo=UTC),
            level="warn",
            severity=13,
            message="slow query",
            service="billing",
            module="billing.db",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id="00f067aa0ba902b7",
            attributes={"latency_ms": 812, "user": {"id": 7}},
        )

    def test_bad_lines_are_reported_by_number_and_the_good_ones_kept(self):
        lines = [
            b'{"ts": 1764496800, "level": "info", "msg": "ok"}',
            b"\xff\xfe\x00\x01binary",
            b'{"ts": 1764496800, "msg": "broken"',
            b"[1, 2, 3]",
            b'{"level": "error", "msg": "when?"}',
            b"",
            b'{"ts": "yesterday-ish", "msg": "x"}',
            b'{"ts": 1764496800, "level": "error"}',
            b'{"ts": 1764496800, "msg": "nul \\u0000 inside"}',
            b'{"time": "2026-11-30 10:00:00,250", "lvl": 50, "msg": "pino error"}',
        ]
        records, errors = _split(list(parse_lines(JsonLinesParser(now=NOW), lines)))
        assert [r.message for r in records] == ["ok", "pino error"]
        assert records[1].level == "error" and records[1].ts == datetime(2026, 11, 30, 10, 0, 0, 250000, tzinfo=UTC)
        reasons = {e.line: e.reason for e in errors}
        assert set(reasons) == {2, 3, 4, 5, 7, 8, 9}  # the blank line 6 is skipped, not an error
        assert "UTF-8" in reasons[2]
        assert reasons[3].startswith("invalid JSON")
        assert "not a JSON object" in reasons[4]
        assert "missing timestamp" in reasons[5]
        assert "unreadable timestamp" in reasons[7]
        assert "missing message" in reasons[8]
        assert "\\u0000" in reasons[9]

    def test_missing_timestamps_take_the_ingest_time_when_asked(self):
        [record] = list(parse_lines(JsonLinesParser(now=NOW, missing_ts="now"), [b'{"msg": "no time"}']))
        assert record.ts == NOW

    def test_unknown_level_is_info_and_the_word_is_kept(self):
        [record] = list(parse_lines(JsonLinesParser(now=NOW), [b'{"ts": 0, "level": "loud", "msg": "m"}']))
        assert (record.level, record.attributes) == ("info", {"level_raw": "loud"})

    def test_default_service_fills_lines_without_one(self):
        parser = JsonLinesParser(now=NOW, service="edge")
        records = list(parse_lines(parser, [b'{"ts": 0, "msg": "a"}', b'{"ts": 0, "msg": "b", "service": "api"}']))
        assert [r.service for r in records] == ["edge", "api"]

    def test_non_string_message_is_stored_as_json(self):
        [record] = list(parse_lines(JsonLinesParser(now=NOW), [b'{"ts": 0, "msg": {"event": "x", "n": 1}}']))
        assert record.message == '{"event":"x","n":1}'


class TestText:
    def test_default_formats_are_recognised(self):
        lines = [
            "2026-11-30T10:00:00Z ERROR [payments.api] Timeout talking to bank",
            "2026-11-30 10:00:01,123 - payments.worker - WARNING - retrying",
            "2026-11-30 10:00:02.001 [main] INFO c.e.Payments - started",
            "2026-11-30T10:00:03+01:00 DEBUG just words",
            "Nov 30 10:00:04 host1 sshd[123]: Accepted password for root",
            'ts=2026-11-30T10:00:05Z level=error msg="db down" service=api dur=3',
        ]
        records = list(parse_lines(TextParser(now=NOW), lines))
        assert [(r.level, r.module, r.message) for r in records] == [
            ("error", "payments.api", "Timeout talking to bank"),
            ("warn", "payments.worker", "retrying"),
            ("info", "c.e.Payments", "started"),
            ("debug", None, "just words"),
            ("info", "sshd", "Accepted password for root"),
            ("error", None, "db down"),
        ]
        assert records[3].ts == datetime(2026, 11, 30, 9, 0, 3, tzinfo=UTC)
        assert records[4].attributes == {"host": "host1", "pid": "123"}
        assert records[5].service == "api" and records[5].attributes == {"dur": "3"}

    def test_stack_trace_lines_join_the_record_before_them(self):
        lines = [
            "2026-11-30T10:00:00Z ERROR [api] request failed",
            "Traceback (most recent call last):",
            '  File "app.py", line 3, in handler',
            "ZeroDivisionError: division by zero",
            "2026-11-30T10:00:01Z INFO [api] next",
        ]
        records, errors = _split(list(parse_lines(TextParser(now=NOW), lines)))
        assert records[0].message == "\n".join(["request failed", *lines[1:3]])
        assert records[1].message == "next"
        assert errors == [LineError(4, "does not match the line format")]  # not indented: not a continuation

    def test_a_template_pattern_captures_named_fields(self):
        parser = TextParser("{ts} | {level} | {service} | {module} | {message}", now=NOW)
        lines = ["2026-11-30 10:00:00 | warn | shop | cart.view | slow render", "something else"]
        records, errors = _split(list(parse_lines(parser, lines)))
        assert [(r.service, r.module, r.level, r.message) for r in records] == [
            ("shop", "cart.view", "warn", "slow render")
        ]
        assert errors == [LineError(2, "does not match the line format")]

    def test_a_regex_pattern_without_time_uses_ingest_time_when_asked(self):
        parser = TextParser(r"^(?P<level>\w+)\|(?P<host>[^|]+)\|(?P<message>.*)$", now=NOW, missing_ts="now")
        [record] = list(parse_lines(parser, ["error|web-1|boom"]))
        assert (record.ts, record.level, record.attributes, record.message) == (NOW, "error", {"host": "web-1"}, "boom")

    def test_a_regex_pattern_without_time_refuses_lines_by_default(self):
        parser = TextParser(r"^(?P<level>\w+)\|(?P<message>.*)$", now=NOW)
        assert list(parse_lines(parser, ["error|boom"])) == [LineError(1, "missing timestamp")]

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [("{ts} {level}", "message"), ("(?P<message>[", "regular expression"), ("{a} {a} {message}", "twice")],
    )
    def test_unusable_patterns_are_refused(self, pattern, reason):
        with pytest.raises(PatternError, match=reason):
            compile_pattern(pattern)

    def test_binary_junk_and_nul_bytes_are_line_errors(self):
        records, errors = _split(list(parse_lines(TextParser(now=NOW), [b"\x89PNG\r\n\x1a\n\xff", b"a\x00b"])))
        assert records == [] and [e.line for e in errors] == [1, 2]


class TestFields:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, tzinfo=UTC)),
            ("2026-11-30T10:00:00.123456789Z", datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)),
            (1764496800, datetime(2025, 11, 30, 10, tzinfo=UTC)),
            (1764496800123, datetime(2025, 11, 30, 10, 0, 0, 123000, tzinfo=UTC)),
            ("1764496800000000000", datetime(2025, 11, 30, 10, tzinfo=UTC)),
            ("30/Nov/2026:10:00:00 +0000", datetime(2026, 11, 30, 10, tzinfo=UTC)),
            ("not a time", None),
            (float("nan"), None),
            (True, None),
        ],
    )
    def test_timestamps(self, value, expected):
        assert parse_timestamp(value, now=NOW) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("WARNING", "warn"), ("err", "error"), ("ERROR2", "error"), ("Critical", "fatal"), (30, "info"), (7, None)],
    )
    def test_levels(self, value, expected):
        found = normalize_level(value)
        assert (found[0] if found else None) == expected


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


class TestBody:
    async def test_lines_are_split_across_chunks_and_long_ones_cut_for_the_parser(self):
        long = b"x" * (MAX_LINE + 10)
        lines = [line async for line in split_lines(_chunks(b"one\ntw", b"o\n", long[:100], long[100:] + b"\nend"))]
        assert lines[:2] == [b"one", b"two"] and lines[3] == b"end"
        assert len(lines[2]) == MAX_LINE + 1
        assert "longer than" in JsonLinesParser(now=NOW).feed(3, lines[2])[0].reason

    async def test_gzip_bodies_are_inflated(self):
        packed = gzip.compress(b'{"ts": 0, "msg": "a"}\n' * 3)
        body = await read_all(decoded(_chunks(packed[:10], packed[10:]), "gzip"))
        assert body.count(b"\n") == 3

    async def test_gzip_bombs_stop_at_the_ceiling(self):
        packed = gzip.compress(b"\0" * 1_000_000)
        with pytest.raises(PayloadTooLarge):
            await read_all(decoded(_chunks(packed), "gzip", max_inflated=10_000))

    async def test_broken_gzip_is_a_bad_request(self):
        with pytest.raises(BadRequest):
            await read_all(decoded(_chunks(b"not gzip at all"), "gzip"))

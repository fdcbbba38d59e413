"""OTLP/HTTP JSON logs: the request shapes exporters send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loopdesk.triage.store.fields import LineError, ParsedLog
from loopdesk.triage.store.otlp import OtlpShapeError, parse_otlp

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T0 = 1764496800 * 10**9  # 2025-11-30T10:00:00Z in nanoseconds


def export(*records: dict, resource: list | None = None, scope: dict | None = None) -> dict:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource or []},
                "scopeLogs": [{"scope": scope or {}, "logRecords": list(records)}],
            }
        ]
    }


def kv(key: str, value: dict) -> dict:
    return {"key": key, "value": value}


def test_a_collector_export_becomes_records_with_service_module_trace_and_attributes():
    document = export(
        {
            "timeUnixNano": str(T0),
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "charge failed"},
            "attributes": [
                kv("http.status_code", {"intValue": "502"}),
                kv("retry", {"boolValue": True}),
                kv("latency_ms", {"doubleValue": 1234.5}),
                kv("tags", {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}),
            ],
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
        },
        resource=[kv("service.name", {"stringValue": "checkout"}), kv("host.name", {"stringValue": "web-1"})],
        scope={"name": "checkout.payments", "version": "1.2.0"},
    )
    [record] = list(parse_otlp(document, now=NOW))
    assert record == ParsedLog(
        ts=datetime(2025, 11, 30, 10, tzinfo=UTC),
        level="error",
        severity=17,
        message="charge failed",
        service="checkout",
        module="checkout.payments",
        trace_id="5b8efff798038103d269b633813fc60c",
        span_id="eee19b7ec3c1b174",
        attributes={
            "http.status_code": 502,
            "retry": True,
            "latency_ms": 1234.5,
            "tags": ["a", "b"],
            "resource": {"host.name": "web-1"},
            "scope.version": "1.2.0",
        },
    )


def test_snake_case_fields_and_numeric_nanoseconds_are_accepted():
    document = {
        "resource_logs": [
            {
                "scope_logs": [
                    {"log_records": [{"time_unix_nano": T0, "severity_text": "warn", "body": {"string_value": "x"}}]}
                ]
            }
        ]
    }
    [record] = list(parse_otlp(document, now=NOW))
    assert (record.level, record.message, record.ts) == ("warn", "x", datetime(2025, 11, 30, 10, tzinfo=UTC))


def test_time_falls_back_to_observed_time_then_to_now():
    observed = {"observedTimeUnixNano": str(T0 + 10**9), "body": {"stringValue": "a"}}
    neither = {"timeUnixNano": "0", "body": {"stringValue": "b"}}
    records = list(parse_otlp(export(observed, neither), now=NOW))
    assert [r.ts for r in records] == [datetime(2025, 11, 30, 10, 0, 1, tzinfo=UTC), NOW]


def test_structured_bodies_are_stored_as_json_and_missing_levels_are_info():
    body = {"kvlistValue": {"values": [kv("event", {"stringValue": "login"}), kv("ok", {"boolValue": False})]}}
    [record] = list(parse_otlp(export({"timeUnixNano": str(T0), "body": body}), now=NOW))
    assert (record.message, record.level, record.severity) == ('{"event":"login","ok":false}', "info", 9)


def test_zero_trace_ids_mean_none_and_base64_ids_are_turned_into_hex():
    records = list(
        parse_otlp(
            export(
                {"timeUnixNano": str(T0), "body": {"stringValue": "a"}, "traceId": "0" * 32, "spanId": ""},
                {"timeUnixNano": str(T0), "body": {"stringValue": "b"}, "traceId": "W47/95gDgQPSabYzgT/GDA=="},
            ),
            now=NOW,
        )
    )
    assert [(r.trace_id, r.span_id) for r in records] == [(None, None), ("5b8efff798038103d269b633813fc60c", None)]


def test_bad_records_are_numbered_across_the_request_and_do_not_stop_the_rest():
    document = export({"timeUnixNano": str(T0), "body": {"stringValue": "ok"}}, "junk", resource=[])
    document["resourceLogs"].append(
        {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "nul \x00"}}, {"body": {"stringValue": "fine"}}]}]}
    )
    items = list(parse_otlp(document, now=NOW))
    assert [i.line for i in items if isinstance(i, LineError)] == [2, 3]
    assert [i.message for i in items if isinstance(i, ParsedLog)] == ["ok", "fine"]


def test_empty_export_is_nothing_and_a_non_object_is_refused():
    assert list(parse_otlp({}, now=NOW)) == []
    assert list(parse_otlp({"resourceLogs": [{"scopeLogs": [{}]}]}, now=NOW)) == []
    with pytest.raises(OtlpShapeError):
        parse_otlp([1, 2], now=NOW)


def test_out_of_range_integers_and_nan_doubles_stay_storable():
    attributes = [kv("big", {"intValue": str(2**70)}), kv("nan", {"doubleValue": "NaN"})]
    [record] = list(parse_otlp(export({"timeUnixNano": str(T0), "attributes": attributes}), now=NOW))
    assert record.attributes == {"big": str(2**70), "nan": "NaN"}

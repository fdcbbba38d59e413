"""The log store's HTTP API, through the real app (one per module; each test writes under its own service)."""

from __future__ import annotations

import gzip
import uuid

import orjson
import pytest

from tests.conftest import assert_error

T0 = 1764496800 * 10**9  # 2025-11-30T10:00:00Z in nanoseconds

ROUTES = [
    ("POST", "/api/v1/logs/ingest"),
    ("POST", "/v1/logs"),
    ("GET", "/api/v1/logs"),
    ("GET", "/api/v1/logs/related"),
    ("GET", "/api/v1/logs/anomalies?start=2026-11-30T00:00:00Z&end=2026-11-30T01:00:00Z"),
]


def service_name() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def otlp(service: str, *bodies: str) -> dict:
    records = [
        {"timeUnixNano": str(T0 + i), "severityText": "ERROR", "body": {"stringValue": body}}
        for i, body in enumerate(bodies)
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": {"name": "app"}, "logRecords": records}]}]}


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_callers_get_401(client, method, path):
    assert_error(await client.request(method, path, content=b"{}"), 401, "not_authenticated")


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_customers_get_403(client, customer, method, path):
    assert_error(await client.request(method, path, content=b"{}", headers=customer.headers), 403, "forbidden")


async def test_jsonl_ingest_stores_good_lines_and_lists_the_bad_ones(client, staff):
    service = service_name()
    body = b"\n".join(
        [
            orjson.dumps({"ts": "2026-11-30T10:00:00Z", "level": "error", "msg": "payment timeout", "app": service}),
            b"\x00\xff binary junk",
            b'{"msg": "no time", "app": "' + service.encode() + b'"}',
            b"{not json",
            orjson.dumps({"timestamp": "2026-11-30T10:01:00Z", "msg": "payment ok", "service": service}),
        ]
    )
    response = await client.post(
        "/api/v1/logs/ingest", content=body, headers={**staff.headers, "Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 3)
    assert [e["line"] for e in result["errors"]] == [2, 3, 4]
    listed = await client.get("/api/v1/logs", params={"service": service}, headers=staff.headers)
    assert [item["message"] for item in listed.json()["items"]] == ["payment ok", "payment timeout"]


async def test_missing_timestamps_can_be_stamped_with_ingest_time(client, staff):
    service = service_name()
    response = await client.post(
        "/api/v1/logs/ingest",
        params={"missing_ts": "now", "service": service},
        content=b'{"msg": "no time"}\n',
        headers=staff.headers,
    )
    assert response.json()["accepted"] == 1


async def test_text_ingest_with_a_pattern_and_gzip(client, staff):
    service = service_name()
    text = "2026-11-30 10:00:00 | WARN | cart | slow render\n2026-11-30 10:00:01 | INFO | cart | fine\nnoise\n"
    response = await client.post(
        "/api/v1/logs/ingest",
        params={"format": "text", "pattern": "{ts} | {level} | {module} | {message}", "service": service},
        content=gzip.compress(text.encode()),
        headers={**staff.headers, "Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert response.json()["accepted"] == 2 and response.json()["errors"][0]["line"] == 3
    listed = await client.get("/api/v1/logs", params={"service": service, "min_level": "warn"}, headers=staff.headers)
    items = listed.json()["items"]
    assert [(i["module"], i["level"], i["message"]) for i in items] == [("cart", "warn", "slow render")]


async def test_an_unusable_pattern_is_a_400(client, staff):
    response = await client.post(
        "/api/v1/logs/ingest", params={"format": "text", "pattern": "{ts} {level}"}, content=b"x", headers=staff.headers
    )
    assert_error(response, 400, "invalid_pattern")


async def test_otlp_export_with_an_api_key_and_gzip_answers_like_a_collector_expects(client, staff):
    created = await client.post("/api/v1/api-keys", json={"name": "collector"}, headers=staff.headers)
    key = created.json()["key"]
    service = service_name()
    document = otlp(service, "charge failed", "charge retried")
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"].append("junk")
    response = await client.post(
        "/v1/logs",
        content=gzip.compress(orjson.dumps(document)),
        headers={"X-API-Key": key, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "record 3: log record is not an object"}
    }
    ok = await client.post("/v1/logs", json=otlp(service, "third"), headers={"X-API-Key": key})
    assert ok.json() == {}
    listed = await client.get("/api/v1/logs", params={"service": service}, headers=staff.headers)
    items = listed.json()["items"]
    assert {i["message"] for i in items} == {"charge failed", "charge retried", "third"}
    assert {(i["module"], i["level"]) for i in items} == {("app", "error")}


async def test_otlp_protobuf_is_refused_with_415_and_how_to_switch(client, staff):
    response = await client.post(
        "/v1/logs", content=b"\x0a\x00", headers={**staff.headers, "Content-Type": "application/x-protobuf"}
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert "json" in error["message"]


@pytest.mark.parametrize(
    ("body", "code"), [(b"{broken", "invalid_json"), (b"[1, 2]", "invalid_otlp")], ids=["not json", "not an export"]
)
async def test_otlp_bodies_that_are_not_exports_are_a_400(client, staff, body, code):
    headers = {**staff.headers, "Content-Type": "application/json"}
    response = await client.post("/v1/logs", content=body, headers=headers)
    assert_error(response, 400, code)


async def test_otlp_can_also_come_through_the_ingest_endpoint(client, staff):
    service = service_name()
    response = await client.post(
        "/api/v1/logs/ingest", params={"format": "otlp"}, json=otlp(service, "via ingest"), headers=staff.headers
    )
    assert (response.json()["accepted"], response.json()["rejected"]) == (1, 0)


async def test_list_pages_and_time_ranges(client, staff):
    service = service_name()
    lines = [orjson.dumps({"ts": f"2026-11-30T1{h}:00:00Z", "msg": f"hour {h}", "service": service}) for h in range(5)]
    await client.post("/api/v1/logs/ingest", content=b"\n".join(lines), headers=staff.headers)
    params = {"service": service, "start": "2026-11-30T11:00:00Z", "end": "2026-11-30T14:00:00Z", "limit": 2}
    first = (await client.get("/api/v1/logs", params=params, headers=staff.headers)).json()
    second = (await client.get("/api/v1/logs", params={**params, "offset": 2}, headers=staff.headers)).json()
    assert [i["message"] for i in first["items"] + second["items"]] == ["hour 3", "hour 2", "hour 1"]
    assert first["total"] == 3
    by_level = await client.get(
        "/api/v1/logs", params=[("service", service), ("level", "info"), ("level", "debug")], headers=staff.headers
    )
    assert by_level.json()["total"] == 5  # JSON lines without a level are info
    backwards = {**params, "start": "2026-11-30T14:00:00Z", "end": "2026-11-30T11:00:00Z"}
    assert_error(await client.get("/api/v1/logs", params=backwards, headers=staff.headers), 422, "validation_error")


async def test_related_and_anomalies_endpoints(client, staff):
    service = service_name()
    trace = uuid.uuid4().hex
    lines = [
        orjson.dumps({"ts": "2026-11-30T10:00:00Z", "msg": "search slow", "service": service}),
        orjson.dumps({"ts": "2026-11-30T10:00:01Z", "msg": "db deadlock", "service": service, "trace_id": trace}),
        orjson.dumps({"ts": "2026-11-30T10:00:02Z", "msg": "deadlock again", "service": service, "level": "error"}),
    ]
    await client.post("/api/v1/logs/ingest", content=b"\n".join(lines), headers=staff.headers)
    related = await client.get(
        "/api/v1/logs/related",
        params={"keywords": ["deadlock"], "modules": [service], "trace_id": trace},
        headers=staff.headers,
    )
    assert [(r["message"], r["trace_match"]) for r in related.json()] == [
        ("db deadlock", True),
        ("deadlock again", False),
    ]
    report = await client.get(
        "/api/v1/logs/anomalies",
        params={"start": "2026-11-30T09:00:00Z", "end": "2026-11-30T11:00:00Z", "service": service},
        headers=staff.headers,
    )
    assert report.status_code == 200, report.text
    series = report.json()["series"]
    assert [(p["total"], p["errors"]) for p in series] == [(0, 0), (3, 1)]
    assert series[0]["error_rate"] is None and report.json()["anomalies"] == []


async def test_anomalies_report_latency_outliers_per_interval(client, staff):
    service = service_name()
    lines = [
        orjson.dumps(
            {"ts": f"2026-11-30T08:{m:02d}:00Z", "msg": "GET /", "service": service, "latency_ms": 100 + m % 5}
        )
        for m in range(40)
    ]
    lines.append(orjson.dumps({"ts": "2026-11-30T09:10:00Z", "msg": "GET /", "service": service, "latency_ms": 9000}))
    await client.post("/api/v1/logs/ingest", content=b"\n".join(lines), headers=staff.headers)
    report = await client.get(
        "/api/v1/logs/anomalies",
        params={"start": "2026-11-30T08:00:00Z", "end": "2026-11-30T10:00:00Z", "service": service, "interval": 1800},
        headers=staff.headers,
    )
    [anomaly] = report.json()["anomalies"]
    assert anomaly["start"].startswith("2026-11-30T09:00:00") and anomaly["end"].startswith("2026-11-30T09:30:00")
    assert (anomaly["metric"], anomaly["detector"], anomaly["severity"], anomaly["value"]) == (
        "latency_ms",
        "iqr",
        "high",
        9000.0,
    )
    assert anomaly["count"] == 1 and anomaly["threshold"] < 200
    assert [p["latency_p95_ms"] is not None for p in report.json()["series"]] == [True, True, True, False]

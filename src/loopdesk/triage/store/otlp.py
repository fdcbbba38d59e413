"""OTLP/HTTP JSON logs (`ExportLogsServiceRequest`): `resourceLogs[].scopeLogs[].logRecords[]`.

Field names in lowerCamelCase or snake_case (both are valid protobuf JSON), 64-bit integers as strings or
numbers, trace / span ids in hex. Records are numbered from 1 across the whole request for the error report."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from loopdesk.triage.store.fields import (
    MAX_MODULE,
    MAX_SERVICE,
    MAX_SPAN_ID,
    MAX_TRACE_ID,
    SEVERITY,
    LineError,
    Parsed,
    ParsedLog,
    clip,
    from_epoch,
    from_severity_number,
    normalize_id,
    normalize_level,
)
from loopdesk.triage.store.ingest import finish

_SERVICE_NAME = "service.name"


class OtlpShapeError(ValueError):
    """The document is not an OTLP logs export at all (not per record: the whole request is refused)."""


def _get(data: dict[str, Any], camel: str, snake: str) -> Any:
    value = data.get(camel)
    return data.get(snake) if value is None else value


def _list(data: dict[str, Any], camel: str, snake: str) -> list[Any]:
    value = _get(data, camel, snake)
    return value if isinstance(value, list) else []


def any_value(value: Any) -> Any:
    """An OTLP `AnyValue` as plain JSON (kvlists become objects, bytes stay base64 text)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value or "string_value" in value:
        return _get(value, "stringValue", "string_value")
    if "boolValue" in value or "bool_value" in value:
        return bool(_get(value, "boolValue", "bool_value"))
    if "intValue" in value or "int_value" in value:
        raw = _get(value, "intValue", "int_value")
        try:
            number = int(raw)
        except (TypeError, ValueError):
            return raw
        return number if -(2**63) <= number < 2**63 else str(raw)  # int64 by the spec; JSON tools agree
    if "doubleValue" in value or "double_value" in value:
        raw = _get(value, "doubleValue", "double_value")
        return raw if isinstance(raw, int | float) else _float_or_text(raw)
    if "arrayValue" in value or "array_value" in value:
        items = _get(value, "arrayValue", "array_value") or {}
        return [any_value(item) for item in items.get("values", [])] if isinstance(items, dict) else []
    if "kvlistValue" in value or "kvlist_value" in value:
        items = _get(value, "kvlistValue", "kvlist_value") or {}
        return key_values(items.get("values", [])) if isinstance(items, dict) else {}
    if "bytesValue" in value or "bytes_value" in value:
        return _get(value, "bytesValue", "bytes_value")
    return None


def _float_or_text(raw: Any) -> Any:
    # "NaN" / "Infinity" are valid protobuf JSON doubles but not storable in JSONB: kept as text.
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return raw
    return number if number == number and abs(number) != float("inf") else str(raw)


def key_values(items: Any) -> dict[str, Any]:
    """A list of OTLP `KeyValue` as a mapping (later keys win, as in the SDKs)."""
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                out[item["key"]] = any_value(item.get("value"))
    return out


def _nanos(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return from_epoch(number / 1e9) if number > 0 else None


def _hex_id(value: Any, max_length: int) -> str | None:
    # Some exporters send the protobuf bytes as base64 instead of the hex OTLP/JSON asks for.
    if isinstance(value, str) and value and len(value) in (24, 12) and value.endswith("="):
        try:
            value = base64.b64decode(value, validate=True).hex()
        except ValueError:
            pass
    return normalize_id(value, max_length)


def parse_otlp(document: Any, *, now: datetime | None = None, service: str | None = None) -> Iterator[Parsed]:
    """Records and per-record errors of an export request (lazily); OtlpShapeError at once when it is not one."""
    if not isinstance(document, dict):
        raise OtlpShapeError("an OTLP logs export is a JSON object with `resourceLogs`")
    return _records(document, now or datetime.now(UTC), service)


def _records(document: dict[str, Any], now: datetime, service: str | None) -> Iterator[Parsed]:
    number = 0
    for resource_logs in _list(document, "resourceLogs", "resource_logs"):
        if not isinstance(resource_logs, dict):
            continue
        resource = key_values((resource_logs.get("resource") or {}).get("attributes"))
        resource_service = resource.pop(_SERVICE_NAME, None)
        for scope_logs in _list(resource_logs, "scopeLogs", "scope_logs"):
            if not isinstance(scope_logs, dict):
                continue
            scope = scope_logs.get("scope") if isinstance(scope_logs.get("scope"), dict) else {}
            for record in _list(scope_logs, "logRecords", "log_records"):
                number += 1
                if not isinstance(record, dict):
                    yield LineError(number, "log record is not an object")
                    continue
                yield _record(number, record, resource, resource_service or service, scope, now)


def _record(
    number: int, record: dict[str, Any], resource: dict[str, Any], service: Any, scope: dict[str, Any], now: datetime
) -> Parsed:
    ts = _nanos(_get(record, "timeUnixNano", "time_unix_nano"))
    ts = ts or _nanos(_get(record, "observedTimeUnixNano", "observed_time_unix_nano")) or now  # as the spec says
    text = _get(record, "severityText", "severity_text")
    level = from_severity_number(_get(record, "severityNumber", "severity_number"))
    level = level or (normalize_level(text) if text else None) or ("info", SEVERITY["info"])
    body = any_value(record.get("body"))
    if body is None:
        body = _get(record, "eventName", "event_name") or ""
    message = body if isinstance(body, str) else orjson.dumps(body).decode()
    attributes = key_values(record.get("attributes"))
    module = scope.get("name") or attributes.get("code.namespace") or attributes.get("logger.name")
    if resource:
        attributes["resource"] = resource
    if scope.get("version"):
        attributes["scope.version"] = scope["version"]
    if text and normalize_level(text) is None:
        attributes["severity_text"] = text
    parsed = ParsedLog(
        ts=ts,
        level=level[0],
        severity=level[1],
        message=message,
        service=clip(str(service) if service is not None else None, MAX_SERVICE),
        module=clip(str(module) if module else None, MAX_MODULE),
        trace_id=_hex_id(_get(record, "traceId", "trace_id"), MAX_TRACE_ID),
        span_id=_hex_id(_get(record, "spanId", "span_id"), MAX_SPAN_ID),
        attributes=attributes,
    )
    if "\x00" in message or b"\\u0000" in orjson.dumps(attributes):
        return LineError(number, "contains \\u0000, which cannot be stored")
    return finish(parsed)


class OtlpLinesParser:
    """One export request per line, as the collector's `file` exporter writes them; a bad record is reported
    under its line's number."""

    def __init__(self, *, now: datetime | None = None, service: str | None = None) -> None:
        self.now = now or datetime.now(UTC)
        self.service = service

    def feed(self, number: int, line: bytes | str) -> list[Parsed]:
        if not line.strip():
            return []
        try:
            items = parse_otlp(orjson.loads(line), now=self.now, service=self.service)
            return [LineError(number, f"record {i.line}: {i.reason}") if isinstance(i, LineError) else i for i in items]
        except orjson.JSONDecodeError as exc:
            return [LineError(number, f"invalid JSON: {str(exc)[:120]}")]
        except OtlpShapeError as exc:
            return [LineError(number, str(exc))]

    def close(self) -> list[Parsed]:
        return []

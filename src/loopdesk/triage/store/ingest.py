"""Line parsers: JSON lines and plain text (a regex, a `{ts} {level} [{module}] {message}` pattern, or the
common formats tried in turn). A parser is fed one line at a time and answers records or per-line errors,
so memory stays bounded whatever the input size; a bad line never stops the others."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from loopdesk.triage.store.fields import (
    MAX_MESSAGE,
    MAX_MODULE,
    MAX_SERVICE,
    MAX_SPAN_ID,
    MAX_TRACE_ID,
    SEVERITY,
    LineError,
    Parsed,
    ParsedLog,
    clip,
    from_severity_number,
    normalize_id,
    normalize_level,
    parse_timestamp,
)

MissingTimestamp = Literal["error", "now"]
MAX_LINE = 256 * 1024
MAX_PATTERN = 1000

# Field aliases, first match wins; dotted names also match nested objects (`log.level` → {"log": {"level"}}).
TS_KEYS = ("ts", "timestamp", "time", "@timestamp", "@t", "datetime", "asctime")
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "@l", "severityText", "severity_text")
SEVERITY_NUMBER_KEYS = ("severity_number", "severityNumber")
MESSAGE_KEYS = ("msg", "message", "@m", "event", "body")
SERVICE_KEYS = ("service", "app", "service.name", "service_name", "application")
MODULE_KEYS = ("module", "logger", "component", "logger_name", "log.logger")
TRACE_KEYS = ("trace_id", "traceId", "trace.id", "traceid", "dd.trace_id")
SPAN_KEYS = ("span_id", "spanId", "span.id", "spanid", "dd.span_id")


class LineParser(Protocol):
    def feed(self, number: int, line: bytes | str) -> list[Parsed]: ...

    def close(self) -> list[Parsed]: ...


class PatternError(ValueError):
    """A text pattern that cannot be used (bad regex, no `message` field)."""


def decode_line(line: bytes | str) -> str | LineError:
    """The line as text without its end-of-line, or why it cannot be stored (binary data, NUL)."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            return LineError(0, f"line longer than {MAX_LINE} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return LineError(0, "not UTF-8 text (binary data?)")
    elif len(line) > MAX_LINE:
        return LineError(0, f"line longer than {MAX_LINE} characters")
    if "\x00" in line:
        return LineError(0, "contains a NUL byte (binary data?)")
    return line.rstrip("\r\n")


def _take(data: dict[str, Any], keys: tuple[str, ...], used: set[str]) -> Any:
    """The first non-empty value among `keys`; `log.level` also finds {"log": {"level": …}} (one level deep)."""
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            used.add(key)
            return value
        if "." in key:
            head, _, rest = key.partition(".")
            inner = data.get(head)
            if isinstance(inner, dict) and (value := inner.get(rest)) is not None and value != "":
                return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _has_nul(value: Any) -> bool:
    return b"\\u0000" in orjson.dumps(value)


def from_mapping(
    data: dict[str, Any], *, now: datetime, missing_ts: MissingTimestamp, default_service: str | None = None
) -> ParsedLog | str:
    """A record from a JSON object (or logfmt pairs), or the reason it is refused."""
    used: set[str] = set()
    message = _text(_take(data, MESSAGE_KEYS, used))
    if message is None:
        return "missing message (msg / message)"
    raw_ts = _take(data, TS_KEYS, used)
    if raw_ts is None:
        if missing_ts == "error":
            return "missing timestamp (ts / timestamp / time / @timestamp)"
        ts = now
    else:
        parsed_ts = parse_timestamp(raw_ts, now=now)
        if parsed_ts is None:
            return f"unreadable timestamp {str(raw_ts)[:40]!r}"
        ts = parsed_ts
    raw_level = _take(data, LEVEL_KEYS, used)
    number = from_severity_number(_take(data, SEVERITY_NUMBER_KEYS, used))
    named = normalize_level(raw_level) if raw_level is not None else None
    level = named or number or ("info", SEVERITY["info"])
    service = _text(_take(data, SERVICE_KEYS, used)) or default_service
    module = _text(_take(data, MODULE_KEYS, used))
    trace_id = normalize_id(_take(data, TRACE_KEYS, used), MAX_TRACE_ID)
    span_id = normalize_id(_take(data, SPAN_KEYS, used), MAX_SPAN_ID)
    attributes = {key: value for key, value in data.items() if key not in used}
    if raw_level is not None and named is None:
        attributes["level_raw"] = raw_level  # kept, so nothing the sender said is lost
    record = ParsedLog(
        ts=ts,
        level=level[0],
        severity=number[1] if number is not None and number[0] == level[0] else level[1],
        message=message,
        service=clip(service, MAX_SERVICE),
        module=clip(module, MAX_MODULE),
        trace_id=trace_id,
        span_id=span_id,
        attributes=attributes,
    )
    return finish(record)


def finish(record: ParsedLog) -> ParsedLog:
    """Over-long messages are cut (and marked) rather than refused."""
    if len(record.message) > MAX_MESSAGE:
        record.message = record.message[:MAX_MESSAGE]
        record.attributes["truncated"] = True
    return record


class JsonLinesParser:
    """One JSON object per line; common field aliases (see the *_KEYS tuples); the rest become attributes."""

    def __init__(
        self, *, now: datetime | None = None, missing_ts: MissingTimestamp = "error", service: str | None = None
    ) -> None:
        self.now = now or datetime.now(UTC)
        self.missing_ts = missing_ts
        self.service = service

    def feed(self, number: int, line: bytes | str) -> list[Parsed]:
        text = decode_line(line)
        if isinstance(text, LineError):
            return [LineError(number, text.reason)]
        if not text.strip():
            return []
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [LineError(number, f"invalid JSON: {str(exc)[:120]}")]
        if not isinstance(data, dict):
            return [LineError(number, f"not a JSON object (a {type(data).__name__})")]
        if "\\u0000" in text and _has_nul(data):
            return [LineError(number, "contains \\u0000, which cannot be stored")]
        record = from_mapping(data, now=self.now, missing_ts=self.missing_ts, default_service=self.service)
        return [LineError(number, record) if isinstance(record, str) else record]

    def close(self) -> list[Parsed]:
        return []


# -- plain text ---------------------------------------------------------------------------------------

_TS = (
    r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?Z|\s?[+-]\d{2}:?\d{2})?"
    r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"
    r"|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"
    r"|\d{10}(?:\.\d+)?|\d{13})"
)
_LEVEL = r"(?:TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|PANIC)"
_TSG = rf"\[?(?P<ts>{_TS})\]?"
_LVG = rf"\[?(?P<level>{_LEVEL})\]?:?"

# Common layouts, most specific first; the first that matches a line wins for that line.
DEFAULT_PATTERNS: tuple[str, ...] = (
    # 2026-11-30T10:00:00Z ERROR [payments.api] Timeout talking to bank
    rf"^{_TSG}\s+{_LVG}\s+\[(?P<module>[^\]]{{1,256}})\]:?\s+(?P<message>.*)$",
    # 2026-11-30 10:00:00,123 - payments.api - ERROR - Timeout (Python's logging)
    rf"^{_TSG}\s+-\s+(?P<module>\S+)\s+-\s+{_LVG}\s+-\s+(?P<message>.*)$",
    # 2026-11-30 10:00:00,123 ERROR payments.api: Timeout   |   ... [main] ERROR c.e.Payments - Timeout (logback)
    rf"^{_TSG}\s+(?:\[[^\]]*\]\s+)?{_LVG}\s+(?P<module>[\w.$/-]+)(?::| -)\s+(?P<message>.*)$",
    # 2026-11-30T10:00:00Z ERROR Timeout talking to bank
    rf"^{_TSG}\s+{_LVG}\s+(?P<message>.*)$",
    # Nov 30 10:00:00 host payments[123]: Timeout (syslog)
    rf"^(?P<ts>[A-Z][a-z]{{2}} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}})\s+(?P<host>\S+)\s+(?P<module>[\w./-]+)"
    rf"(?:\[(?P<pid>\d+)\])?:\s+(?:{_LVG}\s+)?(?P<message>.*)$",
)
_DEFAULTS = tuple(re.compile(p, re.IGNORECASE) for p in DEFAULT_PATTERNS)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CONTINUATION = re.compile(r"^(?:\s|Traceback |Caused by|During handling|The above exception)")
_LOGFMT = re.compile(r'([\w.@-]+)=("(?:[^"\\]|\\.)*"|\S*)')
_KNOWN = {"ts", "level", "message", "service", "module", "trace_id", "span_id"}


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex with named groups (`(?P<message>…)`), or a template such as `{ts} {level} [{module}] {message}`:
    literal text must match, whitespace matches any run of it, `{name}` captures one field."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    if "(?P<" in pattern:
        source = pattern
    else:
        names = _PLACEHOLDER.findall(pattern)
        if len(set(names)) != len(names):
            raise PatternError("a field appears twice in the pattern")
        source = "^" + _template_regex(pattern) + "$"
    try:
        compiled = re.compile(source, re.IGNORECASE if "(?P<" not in pattern else 0)
    except re.error as exc:
        raise PatternError(f"not a valid regular expression: {exc}") from None
    if "message" not in compiled.groupindex:
        raise PatternError("the pattern must capture a `message` field")
    return compiled


def _template_regex(pattern: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(_literal(pattern[position : match.start()]))
        name = match.group(1)
        if name == "ts":
            parts.append(rf"(?P<ts>{_TS})")
        elif name == "message":
            parts.append(r"(?P<message>.*)")
        else:
            parts.append(rf"(?P<{name}>.+?)")
        position = match.end()
    parts.append(_literal(pattern[position:]))
    return "".join(parts)


def _literal(text: str) -> str:
    return r"\s+".join(re.escape(chunk) for chunk in re.split(r"\s+", text)) if text else ""


def parse_logfmt(text: str) -> dict[str, Any] | None:
    """`ts=… level=error msg="a b" k=v` (Go's slog / logrus text): the pairs, or None if it is not logfmt."""
    pairs = _LOGFMT.findall(text)
    if len(pairs) < 2 or not any(key in ("msg", "message") for key, _ in pairs):
        return None
    data: dict[str, Any] = {}
    for key, value in pairs:
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                value = value[1:-1]
        data[key] = value
    return data


class TextParser:
    """Plain text lines. Lines that do not match but look like a continuation (indented, `Traceback`, `Caused
    by`) are appended to the record before them, so stack traces stay with their message."""

    def __init__(
        self,
        pattern: str | None = None,
        *,
        now: datetime | None = None,
        missing_ts: MissingTimestamp = "error",
        service: str | None = None,
    ) -> None:
        self.now = now or datetime.now(UTC)
        self.missing_ts = missing_ts
        self.service = service
        self.patterns = (compile_pattern(pattern),) if pattern else _DEFAULTS
        self.logfmt = pattern is None
        self._pending: ParsedLog | None = None

    def feed(self, number: int, line: bytes | str) -> list[Parsed]:
        text = decode_line(line)
        if isinstance(text, LineError):
            return [LineError(number, text.reason)]
        if not text.strip():
            return []
        parsed = self._parse(text)
        if parsed is None:
            if self._pending is not None and _CONTINUATION.match(text):
                self._pending.message = (self._pending.message + "\n" + text)[: MAX_MESSAGE + 1]
                return []
            return [LineError(number, "does not match the line format")]
        out: list[Parsed] = self.close()
        if isinstance(parsed, str):
            out.append(LineError(number, parsed))
        else:
            self._pending = parsed
        return out

    def close(self) -> list[Parsed]:
        pending, self._pending = self._pending, None
        return [finish(pending)] if pending is not None else []

    def _parse(self, text: str) -> ParsedLog | str | None:
        for pattern in self.patterns:
            if match := pattern.match(text):
                return self._from_groups({k: v for k, v in match.groupdict().items() if v is not None})
        if self.logfmt and (pairs := parse_logfmt(text)) is not None:
            return from_mapping(pairs, now=self.now, missing_ts=self.missing_ts, default_service=self.service)
        return None

    def _from_groups(self, groups: dict[str, str]) -> ParsedLog | str:
        if "ts" in groups:
            ts = parse_timestamp(groups["ts"], now=self.now)
            if ts is None:
                return f"unreadable timestamp {groups['ts'][:40]!r}"
        elif self.missing_ts == "now":
            ts = self.now
        else:
            return "missing timestamp"
        raw_level = groups.get("level")
        level = normalize_level(raw_level) if raw_level else None
        attributes: dict[str, Any] = {k: v for k, v in groups.items() if k not in _KNOWN}
        if level is None:
            level = ("info", SEVERITY["info"])
            if raw_level:
                attributes["level"] = raw_level
        return ParsedLog(
            ts=ts,
            level=level[0],
            severity=level[1],
            message=groups.get("message", ""),
            service=clip(groups.get("service") or self.service, MAX_SERVICE),
            module=clip(groups.get("module"), MAX_MODULE),
            trace_id=normalize_id(groups.get("trace_id"), MAX_TRACE_ID),
            span_id=normalize_id(groups.get("span_id"), MAX_SPAN_ID),
            attributes=attributes,
        )


def parse_lines(parser: LineParser, lines: Iterable[bytes | str]) -> Iterator[Parsed]:
    """Everything a parser makes of `lines` (numbered from 1), for callers holding a plain iterable."""
    for number, line in enumerate(lines, start=1):
        yield from parser.feed(number, line)
    yield from parser.close()

"""Field normalisation shared by every input format: levels (to OpenTelemetry severity numbers),
timestamps (ISO 8601, epoch numbers, syslog, common log format) and trace / span ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Level = Literal["trace", "debug", "info", "warn", "error", "fatal"]
LEVELS: tuple[Level, ...] = ("trace", "debug", "info", "warn", "error", "fatal")
# The first severity number of each level's range (OpenTelemetry: TRACE 1-4, DEBUG 5-8, ... FATAL 21-24).
SEVERITY: dict[str, int] = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
ERROR_SEVERITY = SEVERITY["error"]

MAX_MESSAGE = 32_768
MAX_SERVICE = 128
MAX_MODULE = 256
MAX_TRACE_ID = 64
MAX_SPAN_ID = 32

_LEVEL_WORDS: dict[str, Level] = {
    **dict.fromkeys(("trace", "trc", "finest", "finer", "verbose", "vrb"), "trace"),
    **dict.fromkeys(("debug", "dbg", "fine", "config"), "debug"),
    **dict.fromkeys(("info", "inf", "information", "informational", "notice", "i"), "info"),
    **dict.fromkeys(("warn", "warning", "wrn", "w"), "warn"),
    **dict.fromkeys(("error", "err", "eror", "severe", "exception", "e"), "error"),
    **dict.fromkeys(("fatal", "ftl", "critical", "crit", "alert", "emerg", "emergency", "panic", "f"), "fatal"),
}


@dataclass(slots=True)
class ParsedLog:
    """One record, normalised; what the writer stores."""

    ts: datetime
    level: Level
    severity: int
    message: str
    service: str | None = None
    module: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineError:
    """A line (or OTLP record, counted from 1) that was not stored, and why."""

    line: int
    reason: str


Parsed = ParsedLog | LineError


def level_of_severity(number: int) -> Level:
    return LEVELS[(min(max(number, 1), 24) - 1) // 4]


def normalize_level(value: Any) -> tuple[Level, int] | None:
    """A level word (any case, `WARNING`, `err`, `ERROR2`) or a bunyan / pino number (10 trace … 60 fatal);
    None when it names no level we know."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        step = int(value) // 10
        if 1 <= step <= 6 and int(value) % 10 == 0:
            level = LEVELS[step - 1]
            return level, SEVERITY[level]
        return None
    if not isinstance(value, str):
        return None
    word = value.strip().lower().rstrip("0123456789")
    level = _LEVEL_WORDS.get(word)
    return (level, SEVERITY[level]) if level else None


def from_severity_number(value: Any) -> tuple[Level, int] | None:
    """An OpenTelemetry severity number (1-24; 0 means unspecified)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if not 1 <= number <= 24:
        return None
    return level_of_severity(number), number


_EPOCH_TEXT = re.compile(r"^-?\d+(?:\.\d+)?$")
_SYSLOG = re.compile(r"^(?P<mon>[a-z]{3})\s+(?P<day>\d{1,2})\s+(?P<time>\d{2}:\d{2}:\d{2})$", re.IGNORECASE)
_CLF = "%d/%b/%Y:%H:%M:%S %z"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TS = datetime(9000, 1, 1, tzinfo=UTC)


def from_epoch(number: float) -> datetime | None:
    """Seconds, milliseconds, microseconds or nanoseconds since 1970, told apart by magnitude."""
    magnitude = abs(number)
    if magnitude < 1e11:
        seconds = number
    elif magnitude < 1e14:
        seconds = number / 1e3
    elif magnitude < 1e17:
        seconds = number / 1e6
    else:
        seconds = number / 1e9
    try:
        return _MIN_TS + timedelta(seconds=seconds)
    except OverflowError:
        return None


def parse_timestamp(value: Any, *, now: datetime | None = None) -> datetime | None:
    """An aware datetime (naive times are UTC), or None when `value` is not a time we can read."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, int | float):
        parsed = from_epoch(float(value)) if value == value else None  # NaN is not a time
    elif isinstance(value, str):
        parsed = _parse_text(value.strip(), now)
    else:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if _MIN_TS - timedelta(days=365 * 70) <= parsed < _MAX_TS else None


def _parse_text(text: str, now: datetime | None) -> datetime | None:
    if not text or len(text) > 64:
        return None
    if _EPOCH_TEXT.match(text):
        return from_epoch(float(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, _CLF)
    except ValueError:
        pass
    if match := _SYSLOG.match(text):
        return _syslog_time(match, now or datetime.now(UTC))
    return None


def _syslog_time(match: re.Match[str], now: datetime) -> datetime | None:
    """`Nov 30 10:00:00` has no year: this year's, or last year's when that would be in the future."""
    month = match["mon"].title()
    if month not in _MONTHS:
        return None
    hour, minute, second = (int(part) for part in match["time"].split(":"))
    try:
        stamp = datetime(now.year, _MONTHS.index(month) + 1, int(match["day"]), hour, minute, second, tzinfo=UTC)
        if stamp > now + timedelta(days=1):
            stamp = stamp.replace(year=now.year - 1)
    except ValueError:
        return None
    return stamp


def normalize_id(value: Any, max_length: int) -> str | None:
    """A trace or span id: hex is lower-cased, all-zero ids (OTLP's "none") dropped, over-long ones refused."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text or len(text) > max_length:
        return None
    lowered = text.lower()
    if all(c in "0123456789abcdef" for c in lowered):
        return None if lowered.strip("0") == "" else lowered
    return text


def clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:limit] or None

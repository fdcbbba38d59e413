from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from loopdesk.core.schemas import MAX_OFFSET, Schema
from loopdesk.triage.store.fields import Level

IngestFormat = Literal["jsonl", "text", "otlp"]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00]*$")]


class IngestParams(Schema):
    format: IngestFormat = Field("jsonl", description="jsonl: one JSON object a line; text: see `pattern`; otlp")
    pattern: str | None = Field(
        None,
        max_length=1000,
        description="text only: a regex with named groups, or a template like `{ts} {level} [{module}] {message}`; "
        "unset = common layouts (ISO time + level, Python logging, logback, syslog, logfmt)",
    )
    missing_ts: Literal["error", "now"] = Field(
        "error", description="a line without a timestamp: refused (error) or stamped with the ingest time (now)"
    )
    service: ShortText | None = Field(None, description="service recorded for lines that name none")


class IngestError(Schema):
    line: int = Field(..., description="line number from 1 (OTLP: the record's position in the request)")
    reason: str


class IngestResult(Schema):
    accepted: int
    rejected: int
    errors: list[IngestError] = Field(..., description="the first bad lines, in input order")
    errors_truncated: bool


class LogRead(Schema):
    id: int
    ts: datetime
    level: Level
    severity: int
    service: str | None
    module: str | None
    message: str
    template_id: int | None
    template: str | None
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any]
    ingested_at: datetime


class LogQuery(Schema):
    start: AwareDatetime | None = Field(None, description="from this time (inclusive)")
    end: AwareDatetime | None = Field(None, description="until this time (exclusive)")
    level: list[Level] | None = Field(None, description="only these levels")
    min_level: Level | None = Field(None, description="this level and worse")
    service: ShortText | None = None
    module: ShortText | None = Field(None, description="this module and its children (`payments` → `payments.api`)")
    trace_id: ShortText | None = None
    template_id: int | None = Field(None, ge=0, lt=2**53)
    q: Keyword | None = Field(None, description="text the message contains (case-insensitive)")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    @model_validator(mode="after")
    def _range(self) -> LogQuery:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RelatedQuery(Schema):
    keywords: list[Keyword] | None = Field(None, max_length=20)
    modules: list[ShortText] | None = Field(None, max_length=20)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    trace_id: ShortText | None = None
    limit: int = Field(100, ge=1, le=1000)


class RelatedLogRead(LogRead):
    """A log record `related_logs` found, with why: the trace, and which keywords its message holds."""

    trace_match: bool
    keyword_hits: int
    matched_keywords: tuple[str, ...]


class AnomalyQuery(Schema):
    start: AwareDatetime
    end: AwareDatetime
    interval: int = Field(3600, ge=60, le=7 * 86400, description="bucket width in seconds")
    service: ShortText | None = None
    module: ShortText | None = None
    detector: Literal["robust", "three_sigma"] = Field("robust", description="error-rate detector")
    latency_key: ShortText | None = Field(None, description="attribute holding a duration in ms (default: common)")

    @model_validator(mode="after")
    def _range(self) -> AnomalyQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).total_seconds() / self.interval > 10_000:
            raise ValueError("at most 10,000 intervals: widen `interval` or narrow the range")
        return self


class AnomalyRead(Schema):
    start: datetime
    end: datetime
    metric: str
    value: float
    threshold: float
    severity: Literal["low", "medium", "high"]
    detector: str
    score: float | None = Field(..., description="how far past the baseline, in robust σ (none for IQR)")
    count: int = Field(..., description="samples behind it (IQR: outliers in the interval)")


class SeriesPoint(Schema):
    start: datetime
    total: int
    errors: int
    error_rate: float | None
    latency_p95_ms: float | None


class AnomalyReport(Schema):
    interval: int
    series: list[SeriesPoint]
    anomalies: list[AnomalyRead]

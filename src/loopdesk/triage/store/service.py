"""The log store's operations: ingest (parse → template → COPY, in batches), the filtered listing, and
`related_logs`, what triage asks when a report comes in ("logs about these words, these modules, this trace").
Reads are for staff and admins; the endpoints check the role, these functions trust their caller."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime

import orjson
import structlog
from sqlalchemy import ColumnElement, Integer, Select, and_, case, cast, false, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import BadRequest
from loopdesk.triage.store.fields import LEVELS, Parsed
from loopdesk.triage.store.ingest import JsonLinesParser, LineParser, PatternError, TextParser
from loopdesk.triage.store.models import LogRecord
from loopdesk.triage.store.otlp import OtlpShapeError, parse_otlp
from loopdesk.triage.store.schemas import IngestParams, LogQuery, LogRead, RelatedLogRead
from loopdesk.triage.store.writer import IngestReport, LogWriter, Templater

log = structlog.get_logger("loopdesk.logs")

MAX_RELATED = 1000
TimeRange = tuple[datetime | None, datetime | None]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(text: str) -> str:
    """`text` anywhere in a string, for (I)LIKE with `\\` as the escape character."""
    return f"%{_escape_like(text)}%"


def module_filter(modules: Sequence[str], *, services: bool = False) -> ColumnElement[bool]:
    """The module itself or its dotted children (`payments` → `payments.api`); with `services`, a service of
    that name too (reports name "payments" whichever of the two the logs use)."""
    clauses: list[ColumnElement[bool]] = []
    for module in modules:
        clauses += [LogRecord.module == module, LogRecord.module.like(_escape_like(module) + ".%", escape="\\")]
        if services:
            clauses.append(LogRecord.service == module)
    return or_(*clauses) if clauses else true()


def time_filter(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    clauses = []
    if start is not None:
        clauses.append(LogRecord.ts >= start)
    if end is not None:
        clauses.append(LogRecord.ts < end)
    return and_(true(), *clauses)


class LogService:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def ingest(
        self,
        parser: LineParser,
        lines: AsyncIterable[bytes],
        *,
        templater: Templater | None = None,
        ingested_by: uuid.UUID | None = None,
        after_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> IngestReport:
        """Stream `lines` through `parser` into the table; bad lines are reported, never fatal."""
        writer = LogWriter(self.session, templater=templater, ingested_by=ingested_by, after_batch=after_batch)
        number = 0
        async for line in lines:
            number += 1
            await writer.add_all(parser.feed(number, line))
        await writer.add_all(parser.close())
        return await self._done(writer, "lines")

    async def ingest_records(
        self, records: Iterable[Parsed], *, templater: Templater | None = None, ingested_by: uuid.UUID | None = None
    ) -> IngestReport:
        """Records already parsed (an OTLP request)."""
        writer = LogWriter(self.session, templater=templater, ingested_by=ingested_by)
        await writer.add_all(records)
        return await self._done(writer, "records")

    async def _done(self, writer: LogWriter, unit: str) -> IngestReport:
        report = await writer.close()
        log.info("logs.ingested", accepted=report.accepted, rejected=report.rejected, unit=unit)
        return report

    def _filtered(self, query: LogQuery) -> Select[tuple[LogRecord]]:
        statement = select(LogRecord).where(time_filter(query.start, query.end))
        if query.level:
            statement = statement.where(LogRecord.level.in_(query.level))
        if query.min_level is not None:  # as levels, not severity: the (level, ts) index serves it
            statement = statement.where(LogRecord.level.in_(LEVELS[LEVELS.index(query.min_level) :]))
        if query.service is not None:
            statement = statement.where(LogRecord.service == query.service)
        if query.module is not None:
            statement = statement.where(module_filter([query.module]))
        if query.trace_id is not None:
            statement = statement.where(LogRecord.trace_id == query.trace_id.lower())
        if query.template_id is not None:
            statement = statement.where(LogRecord.template_id == query.template_id)
        if query.q:
            statement = statement.where(LogRecord.message.ilike(like_pattern(query.q), escape="\\"))
        return statement

    async def list(self, query: LogQuery) -> tuple[Sequence[LogRecord], int]:
        """Newest first, with the total that matched."""
        statement = self._filtered(query)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(LogRecord.ts.desc(), LogRecord.id.desc()).limit(query.limit).offset(query.offset)
        )
        return rows.all(), int(total or 0)


async def related_logs(
    session: AsyncSession,
    *,
    keywords: Sequence[str] | None = None,
    modules: Sequence[str] | None = None,
    time_range: TimeRange | None = None,
    trace_id: str | None = None,
    limit: int = 100,
) -> list[RelatedLogRead]:
    """Logs related to a report. A record matches when it is on `trace_id`, or when its message holds one of
    `keywords` (case-insensitive) and it is in one of `modules` (a module, its dotted children, or a service of
    that name); with neither keywords nor trace, every record of those modules matches. `time_range` (start
    inclusive, end exclusive) bounds them all. Ranked: the trace's records first, then by keywords held, then
    newest first. Keyword search uses the trigram index on messages; the trace, its partial index."""
    words = list(dict.fromkeys(w.strip() for w in keywords or () if w and w.strip()))
    trace = trace_id.strip().lower() if trace_id and trace_id.strip() else None
    in_modules = module_filter(modules or (), services=True)
    hits: ColumnElement[int] = literal(0, Integer)
    any_word: ColumnElement[bool] = false()
    for word in words:
        matches = LogRecord.message.ilike(like_pattern(word), escape="\\")
        hits = hits + cast(matches, Integer)
        any_word = or_(any_word, matches)
    topical = and_(any_word, in_modules) if words else (in_modules if modules else false())
    on_trace = LogRecord.trace_id == trace if trace else false()
    condition = or_(on_trace, topical) if (words or modules or trace) else true()
    start, end = time_range or (None, None)
    trace_match = case((on_trace, True), else_=False) if trace else false()
    ranking = ([trace_match.desc()] if trace else []) + ([hits.desc()] if words else [])
    statement = (
        select(LogRecord, trace_match.label("trace_match"), hits.label("hits"))
        .where(time_filter(start, end), condition)
        .order_by(*ranking, LogRecord.ts.desc(), LogRecord.id.desc())
        .limit(max(1, min(limit, MAX_RELATED)))
    )
    rows = (await session.execute(statement)).all()
    lowered = [(word, word.casefold()) for word in words]
    return [
        RelatedLogRead(
            **LogRead.model_validate(row).model_dump(),
            trace_match=bool(on),
            keyword_hits=int(count),
            matched_keywords=tuple(word for word, folded in lowered if folded in row.message.casefold()),
        )
        for row, on, count in rows
    ]


class InvalidPattern(BadRequest):
    code, message = "invalid_pattern", "The line pattern cannot be used"


class InvalidJson(BadRequest):
    code, message = "invalid_json", "Request body is not valid JSON"


class InvalidOtlp(BadRequest):
    code, message = "invalid_otlp", "The body is not an OTLP logs export"


def build_parser(params: IngestParams, *, now: datetime | None = None) -> LineParser:
    """The line parser for `jsonl` or `text` ingest."""
    if params.format == "jsonl":
        return JsonLinesParser(now=now, missing_ts=params.missing_ts, service=params.service)
    try:
        return TextParser(params.pattern, now=now, missing_ts=params.missing_ts, service=params.service)
    except PatternError as exc:
        raise InvalidPattern(str(exc), detail={"pattern": params.pattern}) from None


def otlp_records(body: bytes, *, service: str | None = None) -> Iterator[Parsed]:
    """The records of an OTLP/HTTP JSON logs export (400 when the body is not one)."""
    try:
        document = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(detail={"reason": str(exc)[:200]}) from None
    try:
        return parse_otlp(document, service=service)
    except OtlpShapeError as exc:
        raise InvalidOtlp(str(exc)) from None

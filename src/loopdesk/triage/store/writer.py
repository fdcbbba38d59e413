"""Batched writes to `log_records` by COPY, on the caller's session (the caller owns the transaction). Each
record gets its template from a pluggable `Templater`; the report keeps counts and the first bad lines."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.triage.store.fields import LineError, Parsed, ParsedLog

log = structlog.get_logger("loopdesk.logs")

Templater = Callable[[str], str | None]
"""Message → its template (`user <*> logged in`), or None. Called once per stored record."""

BATCH_SIZE = 1000
MAX_REPORTED_ERRORS = 100
_TEMPLATE_INPUT = 1000  # the first line, this long, decides a message's template
_COLUMNS = (
    "ts",
    "level",
    "severity",
    "service",
    "module",
    "message",
    "template_id",
    "template",
    "trace_id",
    "span_id",
    "attributes",
    "ingested_by",
)
_COPY = f"COPY log_records ({', '.join(_COLUMNS)}) FROM STDIN"


def template_id(template: str) -> int:
    """A stable id for a template's text: the same in every process, and exact in JavaScript (53 bits)."""
    digest = hashlib.blake2b(template.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 53) - 1)


def miner_templater() -> Templater | None:
    """Templates from `loopdesk.triage.logs.templates.TemplateMiner` (learning as it goes), when installed."""
    try:
        from loopdesk.triage.logs.templates import TemplateMiner
    except ImportError:
        return None
    miner = TemplateMiner()

    def templater(message: str) -> str | None:
        return miner.add(message).template

    return templater


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0
    errors: list[LineError] = field(default_factory=list)
    errors_truncated: bool = False


class LogWriter:
    """`add` records as they are parsed; every `batch_size` they are copied in, then `after_batch` runs
    (a long import commits there). `close` writes the rest and returns the report."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        templater: Templater | None = None,
        ingested_by: uuid.UUID | None = None,
        batch_size: int = BATCH_SIZE,
        max_errors: int = MAX_REPORTED_ERRORS,
        after_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.session = session
        self.templater = templater
        self.ingested_by = ingested_by
        self.batch_size = batch_size
        self.max_errors = max_errors
        self.after_batch = after_batch
        self.report = IngestReport()
        self._rows: list[tuple[Any, ...]] = []
        self._templater_failed = False

    async def add(self, item: Parsed) -> None:
        if isinstance(item, LineError):
            self.report.rejected += 1
            if len(self.report.errors) < self.max_errors:
                self.report.errors.append(item)
            else:
                self.report.errors_truncated = True
            return
        self._rows.append(self._row(item))
        if len(self._rows) >= self.batch_size:
            await self.flush()

    async def add_all(self, items: Iterable[Parsed]) -> None:
        for item in items:
            await self.add(item)

    async def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        async with raw.driver_connection.cursor() as cursor, cursor.copy(_COPY) as copy:  # type: ignore[union-attr]
            for row in rows:
                await copy.write_row(row)
        self.report.accepted += len(rows)
        if self.after_batch is not None:
            await self.after_batch()

    async def close(self) -> IngestReport:
        await self.flush()
        return self.report

    def _row(self, record: ParsedLog) -> tuple[Any, ...]:
        template = self._template(record.message)
        return (
            record.ts,
            record.level,
            record.severity,
            record.service,
            record.module,
            record.message,
            template_id(template) if template is not None else None,
            template,
            record.trace_id,
            record.span_id,
            Jsonb(record.attributes, dumps=_dumps),
            self.ingested_by,
        )

    def _template(self, message: str) -> str | None:
        if self.templater is None or self._templater_failed:
            return None
        first_line = message.split("\n", 1)[0][:_TEMPLATE_INPUT]
        try:
            return self.templater(first_line)
        except Exception:  # a miner bug must not cost us the logs themselves
            self._templater_failed = True
            log.exception("logs.templater_failed")
            return None

"""Per-interval metrics of `log_records` for the anomaly detectors: records and errors per interval
(`date_bin` in SQL, so only one row per interval leaves the database) and latency samples from attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.triage.anomalies import DETECTORS, Anomaly, Series, iqr_outliers
from loopdesk.triage.store.fields import ERROR_SEVERITY
from loopdesk.triage.store.models import LogRecord
from loopdesk.triage.store.service import module_filter, time_filter

# Attributes read as a duration in milliseconds, first present wins (`response_time` is the seed's name).
LATENCY_KEYS = ("latency_ms", "duration_ms", "response_time_ms", "elapsed_ms", "response_time")
MAX_LATENCY_SAMPLES = 100_000


@dataclass(frozen=True, slots=True)
class IntervalMetrics:
    """Interval i covers [start + i·step, start + (i+1)·step); intervals without records hold 0 / NaN."""

    start: datetime
    step: timedelta
    totals: np.ndarray
    errors: np.ndarray
    latency_p95: np.ndarray

    def error_rate(self) -> Series:
        """Share of records at error level or worse (NaN where there were none), with the totals behind it."""
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(self.totals > 0, self.errors / self.totals, np.nan)
        return Series(self.start, self.step, rate, metric="error_rate", totals=self.totals.astype(np.float64))

    def latency(self) -> Series:
        return Series(self.start, self.step, self.latency_p95, metric="latency_p95_ms")


def latency_expression(keys: Sequence[str] = LATENCY_KEYS) -> ColumnElement[float]:
    """The first numeric attribute of `keys`, as double precision (NULL when none is a number)."""
    values = [
        case((func.jsonb_typeof(LogRecord.attributes[key]) == "number", cast(LogRecord.attributes[key].astext, Float)))
        for key in keys
    ]
    return func.coalesce(*values) if len(values) > 1 else values[0]


def _scope(service: str | None, module: str | None) -> ColumnElement[bool]:
    clauses = []
    if service is not None:
        clauses.append(LogRecord.service == service)
    if module is not None:
        clauses.append(module_filter([module]))
    return and_(literal(True), *clauses)


async def interval_metrics(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    service: str | None = None,
    module: str | None = None,
    latency_keys: Sequence[str] = LATENCY_KEYS,
) -> IntervalMetrics:
    count = max(1, int(np.ceil((end - start) / step)))
    bucket = func.date_bin(step, LogRecord.ts, start).label("bucket")
    latency = latency_expression(latency_keys)
    statement = (
        select(
            bucket,
            func.count().label("total"),
            func.count().filter(LogRecord.severity >= ERROR_SEVERITY).label("errors"),
            func.percentile_cont(0.95).within_group(latency).filter(latency.is_not(None)).label("p95"),
        )
        .where(time_filter(start, end), _scope(service, module))
        .group_by(bucket)
    )
    totals = np.zeros(count, dtype=np.int64)
    errors = np.zeros(count, dtype=np.int64)
    p95 = np.full(count, np.nan)
    for row in await session.execute(statement):
        index = int((row.bucket - start) / step)
        if 0 <= index < count:
            totals[index], errors[index] = row.total, row.errors
            p95[index] = np.nan if row.p95 is None else row.p95
    return IntervalMetrics(start=start, step=step, totals=totals, errors=errors, latency_p95=p95)


async def latency_samples(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    service: str | None = None,
    module: str | None = None,
    latency_keys: Sequence[str] = LATENCY_KEYS,
    limit: int = MAX_LATENCY_SAMPLES,
) -> tuple[list[datetime], np.ndarray]:
    """(timestamps, milliseconds) of the records carrying a latency, the newest `limit` of them."""
    latency = latency_expression(latency_keys).label("latency")
    statement = (
        select(LogRecord.ts, latency)
        .where(time_filter(start, end), _scope(service, module), latency.is_not(None))
        .order_by(LogRecord.ts.desc())
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    return [row.ts for row in rows], np.array([row.latency for row in rows], dtype=np.float64)


async def find_anomalies(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    service: str | None = None,
    module: str | None = None,
    detector: str = "robust",
    latency_keys: Sequence[str] = LATENCY_KEYS,
) -> tuple[IntervalMetrics, list[Anomaly]]:
    """The interval metrics of a range and what stands out in them: error-rate spikes (`detector`: robust
    or three_sigma) and latency outliers (IQR over the samples), in time order."""
    metrics = await interval_metrics(
        session, start=start, end=end, step=step, service=service, module=module, latency_keys=latency_keys
    )
    found = DETECTORS[detector](metrics.error_rate())
    stamps, values = await latency_samples(
        session, start=start, end=end, service=service, module=module, latency_keys=latency_keys
    )
    found += iqr_outliers(stamps, values, step=step, origin=start)
    return metrics, sorted(found, key=lambda anomaly: (anomaly.start, anomaly.metric))

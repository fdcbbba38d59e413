"""Log store HTTP API, staff and admins only (JWT, cookie or their API key): ingest JSON lines, text or OTLP,
`POST /v1/logs` for OpenTelemetry exporters (OTLP/HTTP JSON, gzip or not), search, related logs, anomalies."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from loopdesk.auth.deps import StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.schemas import Page
from loopdesk.triage.store.body import decoded, read_all, require_json, split_lines
from loopdesk.triage.store.schemas import (
    AnomalyQuery,
    AnomalyRead,
    AnomalyReport,
    IngestError,
    IngestParams,
    IngestResult,
    LogQuery,
    LogRead,
    RelatedLogRead,
    RelatedQuery,
    SeriesPoint,
)
from loopdesk.triage.store.series import find_anomalies
from loopdesk.triage.store.service import LogService, build_parser, otlp_records, related_logs
from loopdesk.triage.store.writer import IngestReport, Templater, miner_templater

router = APIRouter(tags=["logs"])

_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object", "description": "format=otlp"}},
        },
    }
}
_OTLP_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "ExportLogsServiceRequest"}}},
    }
}


async def get_templater(request: Request) -> Templater | None:
    """One template miner per process, learning from everything ingested (created on first use)."""
    state = request.app.state
    if not hasattr(state, "log_templater"):
        state.log_templater = miner_templater()
    return state.log_templater


async def _service(session: SessionDep) -> LogService:
    return LogService(session)


ServiceDep = Annotated[LogService, Depends(_service)]
TemplaterDep = Annotated[Templater | None, Depends(get_templater)]


def _result(report: IngestReport) -> IngestResult:
    return IngestResult(
        accepted=report.accepted,
        rejected=report.rejected,
        errors=[IngestError(line=e.line, reason=e.reason) for e in report.errors],
        errors_truncated=report.errors_truncated,
    )


@router.post("/api/v1/logs/ingest", response_model=IngestResult, openapi_extra=_INGEST_BODY)
async def ingest_logs(
    request: Request,
    user: StaffUser,
    service: ServiceDep,
    templater: TemplaterDep,
    params: Annotated[IngestParams, Query()],
) -> IngestResult:
    """Store the body's logs: JSON lines, text lines (`pattern`) or an OTLP JSON export (`format=otlp`).
    Bad lines are listed (the first 100) and skipped; the rest are stored. `Content-Encoding: gzip` welcome."""
    body = decoded(request.stream(), request.headers.get("content-encoding"))
    if params.format == "otlp":
        require_json(request.headers.get("content-type"))
        records = otlp_records(await read_all(body), service=params.service)
        report = await service.ingest_records(records, templater=templater, ingested_by=user.id)
    else:
        parser = build_parser(params)
        report = await service.ingest(parser, split_lines(body), templater=templater, ingested_by=user.id)
    return _result(report)


@router.post("/v1/logs", openapi_extra=_OTLP_BODY)
async def otlp_export(
    request: Request, user: StaffUser, service: ServiceDep, templater: TemplaterDep
) -> dict[str, Any]:
    """The OTLP/HTTP logs endpoint (JSON encoding): point a collector's `otlphttp` exporter (`encoding: json`)
    or an SDK (`http/json`) at this server with an API key header. Answers `ExportLogsServiceResponse`."""
    require_json(request.headers.get("content-type"))
    body = await read_all(decoded(request.stream(), request.headers.get("content-encoding")))
    report = await service.ingest_records(otlp_records(body), templater=templater, ingested_by=user.id)
    if not report.rejected:
        return {}
    reasons = "; ".join(f"record {e.line}: {e.reason}" for e in report.errors[:5])
    return {"partialSuccess": {"rejectedLogRecords": str(report.rejected), "errorMessage": reasons}}


@router.get("/api/v1/logs", response_model=Page[LogRead])
async def list_logs(user: StaffUser, service: ServiceDep, query: Annotated[LogQuery, Query()]) -> Page[LogRead]:
    """Logs newest first, filtered by time range, level, service, module, trace, template and text."""
    rows, total = await service.list(query)
    return Page(items=[LogRead.model_validate(r) for r in rows], total=total, limit=query.limit, offset=query.offset)


@router.get("/api/v1/logs/related", response_model=list[RelatedLogRead])
async def list_related_logs(
    user: StaffUser, session: SessionDep, query: Annotated[RelatedQuery, Query()]
) -> list[RelatedLogRead]:
    """Logs related to a report: its trace first, then by keywords held, then newest (see `related_logs`)."""
    found = await related_logs(
        session,
        keywords=query.keywords,
        modules=query.modules,
        time_range=(query.start, query.end),
        trace_id=query.trace_id,
        limit=query.limit,
    )
    return found


@router.get("/api/v1/logs/anomalies", response_model=AnomalyReport)
async def log_anomalies(user: StaffUser, session: SessionDep, query: Annotated[AnomalyQuery, Query()]) -> AnomalyReport:
    """Per-interval error rate and latency p95, with the error-rate spikes and latency outliers in them."""
    metrics, anomalies = await find_anomalies(
        session,
        start=query.start,
        end=query.end,
        step=timedelta(seconds=query.interval),
        service=query.service,
        module=query.module,
        detector=query.detector,
        **({"latency_keys": (query.latency_key,)} if query.latency_key else {}),
    )
    rates = metrics.error_rate().values
    series = [
        SeriesPoint(
            start=metrics.start + i * metrics.step,
            total=int(metrics.totals[i]),
            errors=int(metrics.errors[i]),
            error_rate=None if rates[i] != rates[i] else float(rates[i]),
            latency_p95_ms=None if metrics.latency_p95[i] != metrics.latency_p95[i] else float(metrics.latency_p95[i]),
        )
        for i in range(metrics.totals.size)
    ]
    items = [AnomalyRead.model_validate(a) for a in anomalies]
    return AnomalyReport(interval=query.interval, series=series, anomalies=items)

"""Health and metrics."""

from __future__ import annotations

import hmac
import time

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from loopdesk import __version__
from loopdesk.auth.deps import get_principal
from loopdesk.core.db import Database, SessionDep, get_database
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import Forbidden
from loopdesk.system.worker_metrics import combined_exposition, read_socket

router = APIRouter(tags=["system"])
log = structlog.get_logger("loopdesk.health")


class Health(BaseModel):
    status: str
    version: str
    checks: dict[str, str]
    database_latency_ms: float | None = None


@router.get(
    "/api/v1/health",
    response_model=Health,
    responses={503: {"description": "a dependency is down", "model": Health}},
)
async def health(request: Request) -> JSONResponse:
    """Liveness and readiness: 200 when the database answers, 503 otherwise. No auth."""
    database: Database = get_database(request)
    started = time.perf_counter()
    try:
        await database.ping()
    except Exception as exc:
        log.warning("health.database_down", error_type=type(exc).__name__)
        body = Health(status="unavailable", version=__version__, checks={"database": "unavailable"})
        return JSONResponse(body.model_dump(), status_code=503)
    latency = round((time.perf_counter() - started) * 1000, 2)
    body = Health(status="ok", version=__version__, checks={"database": "ok"}, database_latency_ms=latency)
    return JSONResponse(body.model_dump())


async def require_metrics_access(request: Request, session: SessionDep, settings: SettingsDep) -> None:
    token = settings.auth.metrics_token.get_secret_value() if settings.auth.metrics_token else None
    authorization = request.headers.get("authorization", "")
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return
    principal = await get_principal(request, session, settings)
    if not principal.user.is_staff:
        raise Forbidden("Staff or admin role required")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_access)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics. Scrape with `Authorization: Bearer $LOOPDESK_METRICS_TOKEN`, or call as
    a staff or admin user. With the worker as a child process (the default), its metrics are included, labelled
    `process="worker"`."""
    socket = getattr(request.app.state, "worker_metrics_socket", None)
    child = await read_socket(socket) if socket is not None else None
    return Response(combined_exposition(child), media_type=CONTENT_TYPE_LATEST)

"""What every demo backend shares: its FastAPI application around the backend's router, the SQLite connection
per request, `{"detail": "..."}` errors, and the endpoints the OpenAPI document hides (health, fault injection,
the audit trail, a reset for test suites)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from loopdesk.support.demo._db import DemoError, create, is_seeded, opened
from loopdesk.support.demo._writes import audit_rows


@dataclass(frozen=True)
class BackendInfo:
    name: str
    title: str
    port: int  # the default port of `loopdesk demo NAME`
    description: str


@dataclass(frozen=True)
class Backend:
    info: BackendInfo
    router: APIRouter
    schema: str  # SQL DDL of the backend's own tables
    rows: Callable[[], dict[str, list[tuple]]]  # the seed, table by table (deterministic)
    highlights: Callable[[sqlite3.Connection], list[tuple[str, str]]]  # ids worth trying, for the CLI banner

    def seed(self, db_path: Path, *, reset: bool = False) -> None:
        if reset or not is_seeded(db_path):
            create(db_path, self.schema, self.rows())


class ErrorBody(BaseModel):
    detail: str = Field(description="Why the request was refused, in words a person can act on.")


_ERRORS = {
    404: "Not found: the detail names what is missing.",
    409: "Refused: the current state does not allow it (the detail says why).",
    422: "Refused: the request is invalid or breaks a rule (the detail says why).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of an operation; 422 always (our validation errors are `{"detail": str}` too)."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in sorted({*statuses, 422})}


def connection(request: Request) -> Iterator[sqlite3.Connection]:
    with opened(request.app.state.db_path) as conn:
        yield conn


Conn = Annotated[sqlite3.Connection, Depends(connection)]
# Hidden from the document: loopdesk's OpenAPI client sets it on every write by itself.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False, max_length=255)]


class FaultIn(BaseModel):
    operation_id: str = Field(min_length=1)
    status: int = Field(500, ge=400, le=599)
    times: int = Field(1, ge=0, le=1000, description="0 clears the fault")


class Faults:
    """Armed failures: the next `times` calls of an operation answer `status` without running it."""

    def __init__(self) -> None:
        self._armed: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def arm(self, fault: FaultIn) -> None:
        with self._lock:
            if fault.times:
                self._armed[fault.operation_id] = [fault.status, fault.times]
            else:
                self._armed.pop(fault.operation_id, None)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, operation_id: str) -> int | None:
        with self._lock:
            armed = self._armed.get(operation_id)
            if armed is None:
                return None
            armed[1] -= 1
            if armed[1] == 0:
                del self._armed[operation_id]
            return armed[0]


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def build_app(backend: Backend, db_path: Path | None, *, server_url: str | None = None) -> FastAPI:
    """The backend's application on `db_path` (seeded when new); without one it serves only its document."""
    info = backend.info
    if db_path is not None:
        backend.seed(db_path)
    faults = Faults()

    def fault_gate(request: Request) -> None:
        route = request.scope.get("route")
        operation_id = getattr(route, "operation_id", None)
        status = faults.take(operation_id) if operation_id else None
        if status is not None:
            raise HTTPException(status, f"injected fault: {operation_id} answers {status}")

    app = FastAPI(
        title=info.title,
        version="1.0.0",
        description=info.description,
        servers=[{"url": server_url}] if server_url else None,
        dependencies=[Depends(fault_gate)],
    )
    app.state.db_path = db_path

    @app.exception_handler(DemoError)
    async def _refused(request: Request, exc: DemoError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(exc)}, status_code=422)

    app.include_router(backend.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "backend": info.name}

    @app.post("/_faults", include_in_schema=False)
    def arm_fault(fault: FaultIn) -> FaultIn:
        known = {getattr(route, "operation_id", None) for route in backend.router.routes}
        if fault.operation_id not in known:
            raise DemoError(404, f"no operation {fault.operation_id!r}; known: {', '.join(sorted(known))}")
        faults.arm(fault)
        return fault

    @app.delete("/_faults", include_in_schema=False, status_code=204)
    def clear_faults() -> None:
        faults.clear()

    @app.get("/_audit", include_in_schema=False)
    def audit(conn: Conn) -> list[dict[str, Any]]:
        return audit_rows(conn)

    @app.post("/_reset", include_in_schema=False, status_code=204)
    def reset(request: Request) -> None:
        """Back to the seed (test suites share one process between scenarios)."""
        faults.clear()
        backend.seed(request.app.state.db_path, reset=True)

    return app

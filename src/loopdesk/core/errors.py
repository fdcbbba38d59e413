"""Domain errors carry their HTTP status and a stable code; one set of handlers renders every error
as `{"error": {"code", "message", "detail"}}` and never lets a stack trace reach the client.

On Agent Protocol routes the answer also carries a top-level `detail` string, as LangGraph's server
answers: langgraph_sdk makes it the exception's message, so SDK users read which field failed and why."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("loopdesk.errors")


class LoopdeskError(Exception):
    status_code: int = 500
    code: str = "internal_error"
    message: str = "Internal server error"

    def __init__(self, message: str | None = None, *, detail: Any = None, headers: dict[str, str] | None = None):
        self.message = message or self.message
        self.detail = detail
        self.headers = headers
        Exception.__init__(self, self.message)


class BadRequest(LoopdeskError):
    status_code, code, message = 400, "bad_request", "Bad request"


class NotAuthenticated(LoopdeskError):
    status_code, code, message = 401, "not_authenticated", "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class InvalidCredentials(NotAuthenticated):
    code, message = "invalid_credentials", "Incorrect email or password"


class Forbidden(LoopdeskError):
    status_code, code, message = 403, "forbidden", "You are not allowed to do this"


class NotFound(LoopdeskError):
    status_code, code, message = 404, "not_found", "Not found"


class Conflict(LoopdeskError):
    status_code, code, message = 409, "conflict", "Conflict"


class PayloadTooLarge(LoopdeskError, StarletteHTTPException):
    """Also an HTTPException: FastAPI's body parser re-raises those instead of turning them into 400."""

    status_code, code, message = 413, "payload_too_large", "Request body is too large"


class RateLimited(LoopdeskError):
    status_code, code, message = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message, detail={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(LoopdeskError):
    status_code, code, message = 503, "service_unavailable", "The service is briefly unavailable: try again shortly"

    def __init__(self, retry_after: int = 5, message: str | None = None):
        super().__init__(message, detail={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


# The service's own database out of reach (restarting, failing over, every connection taken): not the caller's
# fault and not a bug. Requests answer 503 with Retry-After (middleware.py); run jobs are retried (runs/tasks.py).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


# Agent Protocol routes: bodies read as JSON whatever their type (middleware.py), errors with a top-level
# `detail` the LangGraph SDK shows (below).
AGENT_PROTOCOL_PREFIXES = ("assistants", "threads", "runs", "store")


def is_agent_protocol_path(path: str, *, info: bool = True) -> bool:
    """/assistants, /threads, /runs, /store, and (unless `info` is false) /info."""
    root = path[1:].split("/", 1)[0]
    return root in AGENT_PROTOCOL_PREFIXES or (info and root == "info")


def _error_response(
    request: Request,
    status: int,
    body: dict[str, Any],
    *,
    summary: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The envelope; on Agent Protocol routes also `detail`: one line saying what is wrong (the SDK shows it)."""
    if is_agent_protocol_path(request.scope.get("path", "")):
        body = {**body, "detail": summary or body["error"]["message"]}
    return JSONResponse(body, status_code=status, headers=headers)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _validation_summary(detail: list[dict[str, Any]]) -> str:
    """One line naming every invalid field: "Request is not valid: body.limit: Input should be ..." (no input)."""
    problems = "; ".join(".".join(str(part) for part in item["loc"]) + ": " + item["msg"] for item in detail)
    return f"Request is not valid: {problems}"


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # `input` is left out on purpose: it can echo passwords and tokens back into logs and clients.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


async def _loopdesk_error(request: Request, exc: LoopdeskError) -> JSONResponse:
    if exc.status_code >= 500:
        log.error("request.failed", code=exc.code, error=exc.message)
    detail = jsonable_encoder(exc.detail)  # a datetime or UUID in a detail must not turn the answer into a 500
    return _error_response(request, exc.status_code, error_body(exc.code, exc.message, detail), headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _status_code_name(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return _error_response(request, exc.status_code, error_body(code, message), headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = _validation_detail(exc)
    json_invalid = any(item["type"] == "json_invalid" for item in detail)
    if json_invalid:
        return _error_response(request, 400, error_body("invalid_json", "Request body is not valid JSON", detail))
    body = error_body("validation_error", "Request is not valid: see detail", detail)
    return _error_response(request, 422, body, summary=_validation_summary(detail))


async def _data_error(request: Request, exc: DataError | psycopg.DataError) -> JSONResponse:
    # The database refused a value the schemas let through (range, encoding): the client's input.
    # SQLAlchemy wraps psycopg's error; LangGraph's saver and store raise psycopg's own.
    log.warning("request.invalid_value", error_type=type(getattr(exc, "orig", exc)).__name__)
    return _error_response(request, 400, error_body("invalid_value", "A value is out of range or not storable"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(LoopdeskError, _loopdesk_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    # Unhandled exceptions are turned into a 500 envelope by RequestContextMiddleware, which also
    # stamps the request id on them (Starlette's own 500 path sits outside every middleware).

"""Request context as a pure ASGI middleware (streaming-safe): a request id on every log line and
response, one access-log line, Prometheus metrics, and a 500 envelope for anything unhandled."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopdesk.core.errors import (
    DATABASE_UNAVAILABLE,
    PayloadTooLarge,
    ServiceUnavailable,
    error_body,
    is_agent_protocol_path,
)
from loopdesk.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("loopdesk.http")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_QUIET_PATHS = {"/metrics", "/api/v1/health"}


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "<unmatched>"


async def _send_json(send: Send, status: int, body: dict, extra: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())] + [
        (name.lower().encode(), value.encode()) for name, value in (extra or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimitMiddleware:
    """413 for bodies over the limit: at once from Content-Length, or as soon as a chunked body
    passes it (raised from `receive`, so the error handlers render the envelope). `limit_for` may name a
    larger limit for some requests (file uploads)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, limit_for: Callable[[Scope], int | None] | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        if self.limit_for is not None:
            limit = max(limit, self.limit_for(scope) or 0)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    too_large = PayloadTooLarge(detail={"max_bytes": limit})
                    await _send_json(send, 413, error_body(too_large.code, too_large.message, too_large.detail))
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(detail={"max_bytes": limit})
            return message

        await self.app(scope, limited_receive, send)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                structlog.contextvars.unbind_contextvars("request_id")
            return

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except DATABASE_UNAVAILABLE as exc:
            # The database is restarting or out of connections: the caller may try again (no stack trace logged:
            # the database's own state is what an operator looks at).
            log.warning("http.database_unavailable", error_type=type(exc).__name__)
            if not response_started:
                unavailable = ServiceUnavailable()
                body = error_body(unavailable.code, unavailable.message, unavailable.detail)
                if is_agent_protocol_path(scope.get("path", "")):
                    body["detail"] = unavailable.message
                await _send_json(send_with_id, 503, body, unavailable.headers)
        except Exception as exc:
            log.exception("http.unhandled_error", error_type=type(exc).__name__)
            if not response_started:
                await _send_json(send_with_id, 500, error_body("internal_error", "Internal server error"))
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route, str(status)).observe(elapsed)
            path = scope.get("path", "")
            (log.debug if path in _QUIET_PATHS else log.info)(
                "http.request", method=method, path=path, status=status, duration_ms=round(elapsed * 1000, 1)
            )
            structlog.contextvars.unbind_contextvars("request_id")


# The seeds' routes have no version segment: `/api/sessions/...` is `/api/v1/sessions/...` (README table).
SEED_PREFIXES = ("sessions", "tools", "approvals", "users")


class SeedPathMiddleware:
    """Serves the seeds' unversioned `/api/<sessions|tools|approvals|users>...` paths as their `/api/v1`
    routes: the same handlers, checks and answers."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path.startswith("/api/") and path[5:].split("/", 1)[0] in SEED_PREFIXES:
                raw = scope.get("raw_path") or path.encode()
                scope = {**scope, "path": "/api/v1/" + path[5:], "raw_path": b"/api/v1/" + raw[5:]}
        await self.app(scope, receive, send)


PLAIN_BODY_FLAG = "loopdesk_plain_json_body"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class PlainJsonBodyMiddleware:
    """Reads an Agent Protocol body sent as `text/plain` (or with no content type) as JSON: agent-chat-ui's
    Next.js passthrough forwards the body as a string, so `fetch` labels it text/plain. Such a request is a
    CORS "simple" request, so it is flagged: a cookie-authenticated one must then prove it is same-site
    (auth/deps.py)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and is_agent_protocol_path(scope["path"], info=False)  # the official server parses any body type
        ):
            headers = scope.get("headers", ())
            content_type = next((value for name, value in headers if name == b"content-type"), None)
            if content_type is None or content_type.lower().startswith(b"text/plain"):
                rewritten = [(name, value) for name, value in headers if name != b"content-type"]
                rewritten.append((b"content-type", b"application/json"))
                state = {**scope.get("state", {}), PLAIN_BODY_FLAG: True}
                scope = {**scope, "headers": rewritten, "state": state}
        await self.app(scope, receive, send)

"""The seeds' response envelope, on request: smart-support's clients read `{"success", "data", "error"}`.
With `X-Response-Envelope: 1` or `?envelope=1`, a JSON response under /api/v1 (or a seed's unversioned
/api path) is wrapped: `{"success": true, "data": <body>, "error": null}`, or on an error status
`{"success": false, "data": null, "error": <loopdesk's error object>}`. Streams, other content types and
requests without the switch pass untouched. Pure ASGI: nothing is buffered unless it will be wrapped."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopdesk.core.middleware import SEED_PREFIXES

HEADER = b"x-response-envelope"
QUERY = "envelope"
_ON = {"1", "true", "yes"}


def _switched_on(scope: Scope) -> tuple[bool, bytes]:
    """Whether the envelope was asked for, and the query string without the switch (handlers never see it)."""
    query = scope.get("query_string", b"")
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    asked = any(key == QUERY and value.lower() in _ON for key, value in pairs)
    if any(key == QUERY for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs if key != QUERY]).encode("latin-1")
    for name, value in scope.get("headers", ()):
        if name == HEADER and value.decode("latin-1").strip().lower() in _ON:
            asked = True
    return asked, query


def _enveloped_path(path: str) -> bool:
    if path.startswith("/api/v1/"):
        return True
    return path.startswith("/api/") and path[5:].split("/", 1)[0] in SEED_PREFIXES


def wrap(status: int, body: bytes) -> bytes:
    payload = json.loads(body) if body else None
    if status < 400:
        return json.dumps({"success": True, "data": payload, "error": None}).encode()
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    return json.dumps({"success": False, "data": None, "error": error}).encode()


class ResponseEnvelopeMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _enveloped_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        asked, query = _switched_on(scope)
        if not asked:
            await self.app(scope, receive, send)
            return
        scope = {**scope, "query_string": query}
        start: Message | None = None
        chunks: list[bytes] = []

        async def enveloping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.split(b";")[0].strip() == b"application/json":
                    start = message  # held back until the whole body is in
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = wrap(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", ()) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, enveloping_send)

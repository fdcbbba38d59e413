"""Real servers on 127.0.0.1 for the notification tests: an HTTP endpoint that records every request (query,
headers, body) and answers from a script of statuses, and an SMTP server (aiosmtpd) that keeps each message."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpEndpoint:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order; then `status`
    status: int = 200
    answer: Any = field(default_factory=lambda: {"ok": True})


@asynccontextmanager
async def http_endpoint(
    *, statuses: tuple[int, ...] = (), status: int = 200, answer: Any = None, delay: float = 0.0
) -> AsyncIterator[HttpEndpoint]:
    """`delay`: seconds each answer waits (so that two senders overlap)."""
    state = HttpEndpoint(statuses=list(statuses), status=status, answer={"ok": True} if answer is None else answer)

    async def hook(request: Request) -> JSONResponse:
        state.requests.append(
            Recorded(request.url.path, dict(request.query_params), dict(request.headers), await request.body())
        )
        if delay:
            await asyncio.sleep(delay)
        code = state.statuses.pop(0) if state.statuses else state.status
        return JSONResponse(state.answer if code < 400 else {"error": "try again"}, status_code=code)

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.should_exit = True
        await task


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_content()


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[SmtpServer]:
    state = SmtpServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(state, hostname="loopdesk.test"), "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()

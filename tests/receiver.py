"""A real HTTP server on 127.0.0.1 that records what it receives (webhook and outbound tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Receiver:
    url: str = ""
    received: list[dict] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def receiver(
    *, fail_first: int = 0, redirect_to: str | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Receiver]:
    state = Receiver(fail_first=fail_first)

    async def hook(request: Request):
        state.received.append(
            {"body": await request.json() if await request.body() else None, "path": request.url.path}
        )
        if len(state.received) <= state.fail_first:
            return JSONResponse({"error": "try again"}, status_code=500)
        state.arrived.set()
        return JSONResponse({"ok": True})

    async def redirect(request: Request):
        return RedirectResponse(redirect_to or "/", status_code=302)

    async def big(request: Request):
        """`size` bytes, with a Content-Length, or streamed without one (`chunked=1`)."""
        size = int(request.query_params.get("size", "0"))
        if request.query_params.get("chunked"):

            async def chunks():
                for start in range(0, size, 65536):
                    yield b"x" * min(65536, size - start)

            return StreamingResponse(chunks())
        return Response(b"x" * size)

    app = Starlette(
        routes=[Route("/hook", hook, methods=["POST", "GET"]), Route("/redirect", redirect), Route("/big", big)]
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    state.url = f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.should_exit = True
        await task

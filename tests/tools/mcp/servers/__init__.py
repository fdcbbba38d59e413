"""MCP servers for the tests: the third-party `mcp-server-time` (its own venv, see the Makefile) and
`toolbox.py`, a FastMCP server run over stdio or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loopdesk.tools.mcp import MCPServerConfig

PYTHON = sys.executable
TOOLBOX = Path(__file__).with_name("toolbox.py")
MCP_TIME = Path(sys.prefix) / "mcp-time" / "bin" / "mcp-server-time"


def toolbox_stdio(name: str = "box", **options: Any) -> MCPServerConfig:
    return MCPServerConfig(name=name, transport="stdio", command=PYTHON, args=[str(TOOLBOX), "stdio"], **options)


def time_server(name: str = "time") -> MCPServerConfig:
    assert MCP_TIME.exists(), f"{MCP_TIME} is missing: `make test` installs mcp-server-time in its own venv"
    return MCPServerConfig(name=name, transport="stdio", command=str(MCP_TIME))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HTTPToolbox:
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def config(self, name: str = "web", **options: Any) -> MCPServerConfig:
        return MCPServerConfig(name=name, transport="http", url=self.url, **options)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def toolbox_http(port: int | None = None) -> AsyncIterator[HTTPToolbox]:
    """The toolbox over streamable HTTP in a subprocess, once it answers."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        PYTHON, str(TOOLBOX), "http", str(port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    server = HTTPToolbox(port, process)
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(400):
                if process.returncode is not None:
                    raise RuntimeError(f"the toolbox HTTP server exited with code {process.returncode}")
                try:
                    await client.get(server.url)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the toolbox HTTP server did not answer within 20 s")
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                await server.kill()

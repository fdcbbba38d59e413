"""A small FastMCP server for the MCP source tests.

`python toolbox.py stdio` or `python toolbox.py http PORT` (streamable HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations

mcp = FastMCP("toolbox", host="127.0.0.1", log_level="WARNING")


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def echo(text: str) -> str:
    """Returns the text it is given."""
    return f"echo: {text}"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ValueError(message)


@mcp.tool()
async def sleep(seconds: float) -> str:
    """Sleeps, then answers."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def getenv(name: str) -> str:
    """The value of an environment variable of the server process (empty when unset)."""
    return os.environ.get(name, "")


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def request_meta(ctx: Context) -> dict:
    """The `_meta` of this request."""
    meta = ctx.request_context.meta
    return meta.model_dump(exclude_none=True) if meta else {}


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def shout(text: str) -> str:
    """Writes the text to the server's stderr."""
    print(text, file=sys.stderr, flush=True)
    return "written"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
async def add_tool(name: str, ctx: Context, notify: bool = True) -> str:
    """Registers a new tool `name` at run time and (unless told not to) tells the client the tool list changed."""

    def hello() -> str:
        return f"hello from {name}"

    mcp.add_tool(hello, name=name, description=f"Says hello ({name}).")
    if notify:
        await ctx.session.send_tool_list_changed()
    return f"added {name}"


@mcp.tool(annotations=ToolAnnotations(destructiveHint=True))
def crash(code: int = 3) -> str:
    """Exits the server process at once."""
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        mcp.settings.port = int(sys.argv[2])
        mcp.run(transport="streamable-http")
    else:
        mcp.run(transport="stdio")

"""The child side of an isolated Python tool call: read {ref, file, name, arguments} on stdin, run
the tool, write {content, is_error} on stdout."""

from __future__ import annotations

import asyncio
import importlib
import sys

import orjson


def main() -> None:
    from loopdesk.tools.base import ToolCallContext
    from loopdesk.tools.python import _current, load_file, tools_of

    request = orjson.loads(sys.stdin.buffer.read())
    _current.set(ToolCallContext(**request["context"]))
    if request.get("file"):
        from pathlib import Path

        tools = load_file(Path(request["file"]))
    else:
        module, _, attribute = request["ref"].partition(":")
        tools = tools_of(getattr(importlib.import_module(module), attribute))
    item = next(t for t in tools if t.name == request["name"])
    try:
        content, is_error = asyncio.run(item.ainvoke(request["arguments"])), False
    except MemoryError:
        content, is_error = "the tool exceeded its memory limit and was stopped", True
    except Exception as exc:  # noqa: BLE001 - reported to the parent as the tool's failure
        content, is_error = f"{type(exc).__name__}: {exc}", True
    sys.stdout.buffer.write(orjson.dumps({"content": content, "is_error": is_error}, default=str))


if __name__ == "__main__":
    main()

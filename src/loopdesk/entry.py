"""The `loopdesk` executable. Streaming commands that shell pipelines call once per batch (`logs templates`,
`triage classify`) load only their own module: the full CLI imports the whole service (about a second)."""

from __future__ import annotations

import importlib
import sys

# (command words) -> module whose main(argv) -> exit code runs it
_LIGHT = {("logs", "templates"): "loopdesk.triage.logs.run"}


def main() -> None:
    argv = sys.argv[1:]
    target = _LIGHT.get(tuple(argv[:2]))
    if target is not None:
        sys.exit(importlib.import_module(target).main(argv[2:]))
    from loopdesk.cli import app

    app(prog_name="loopdesk")

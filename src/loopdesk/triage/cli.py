"""`loopdesk triage ...`: the triage components' commands in one group (JSON lines in, JSON lines out)."""

from __future__ import annotations

import typer

from loopdesk.triage import cli_region

app = typer.Typer(
    help="Triage feedback: region, priority and SLA (JSON lines on stdin, one JSON object per line out).",
    no_args_is_help=True,
)
for part in (cli_region.app,):
    app.registered_commands.extend(part.registered_commands)

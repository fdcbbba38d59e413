"""`loopdesk triage ...`: the triage components' commands in one group (JSON lines in, JSON lines out)."""

from __future__ import annotations

import typer

from loopdesk.triage import cli_region
from loopdesk.triage.dedup.cli import app as dedup_app
from loopdesk.triage.issue_type.cli import app as issue_type_app
from loopdesk.triage.logs.cli import app as templates_app
from loopdesk.triage.store.cli import app as store_app

app = typer.Typer(
    help="Triage feedback: issue type, region, priority and SLA (JSON lines in, one JSON object per line out).",
    no_args_is_help=True,
)
for part in (issue_type_app, cli_region.app):
    app.registered_commands.extend(part.registered_commands)

logs_app = typer.Typer(help="Logs: ingest into the log store, mine templates.", no_args_is_help=True)
for part in (store_app, templates_app):
    logs_app.registered_commands.extend(part.registered_commands)

__all__ = ["app", "dedup_app", "logs_app"]

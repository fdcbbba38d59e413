"""`loopdesk logs ...`: log template mining on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loopdesk.triage.logs.run import STATE_HELP, STREAM_HELP, StateError, load_miner, run_templates
from loopdesk.triage.logs.templates import TemplateMiner

app = typer.Typer(
    help="Mine log templates: the constant text of log messages, with their variables written <*>.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _load(state: Path | None) -> TemplateMiner:
    try:
        return load_miner(state)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def templates(
    state: Annotated[Path | None, typer.Option("--state", help=STATE_HELP)] = None,
    stream: Annotated[bool, typer.Option("--stream", help=STREAM_HELP)] = False,
) -> None:
    """Read log message contents on stdin, one per line; print one template per input line on stdout."""
    code = run_templates(state, stream)
    if code:
        raise typer.Exit(code)


@app.command("list")
def list_templates(
    state: Annotated[Path, typer.Argument(help="A state file written by `templates --state`.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per template.")] = False,
) -> None:
    """Print the templates a state file holds, most frequent first, with their counts."""
    if not state.exists():
        typer.echo(f"error: no such state file: {state}", err=True)
        raise typer.Exit(2)
    for info in _load(state).templates():
        if as_json:
            typer.echo(json.dumps({"id": info.id, "template": info.template, "count": info.count}))
        else:
            typer.echo(f"{info.count:>10} {info.template}")


if __name__ == "__main__":
    app()

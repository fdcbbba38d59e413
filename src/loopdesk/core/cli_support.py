"""What every `loopdesk` sub-command shares."""

from __future__ import annotations

import typer
from rich.console import Console

from loopdesk.core.settings import Settings, SettingsError


def settings_or_exit(console: Console) -> Settings:
    """The settings from LOOPDESK_* (as for `serve`); a bad value is printed and exits with status 2."""
    try:
        return Settings.load()
    except SettingsError as exc:
        console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None

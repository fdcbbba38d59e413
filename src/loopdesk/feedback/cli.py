"""`loopdesk feedback report`: the weekly feedback report from the configured database (read only), as
Markdown or JSON, to stdout or a file; progress goes to stderr."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import text

from loopdesk.core.cli_support import settings_or_exit
from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import Settings
from loopdesk.feedback.analytics import MAX_PERIOD_DAYS, InvalidPeriod, Period, Step
from loopdesk.feedback.analytics_report import FeedbackReport, build_report

app = typer.Typer(help="The feedback loop: reports on tasks.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True, highlight=False)
ISO_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@app.callback()
def main() -> None:
    """The feedback loop (mounted as `loopdesk feedback`). Configuration from LOOPDESK_* as for `serve`."""


def _settings() -> Settings:
    return settings_or_exit(console)


def _period(week: str | None, days: int | None) -> Period:
    if week is not None and days is not None:
        raise typer.BadParameter("give --week or --days, not both", param_hint="--week")
    if week is None:
        return Period.last(days or 7, now=datetime.now(UTC))
    found = ISO_WEEK.fullmatch(week.strip())
    if found is None:
        raise typer.BadParameter(f"{week!r} is not an ISO week such as 2026-W09", param_hint="--week")
    try:
        return Period.iso_week(int(found[1]), int(found[2]))
    except InvalidPeriod as exc:
        raise typer.BadParameter(exc.message, param_hint="--week") from None


@app.command()
def report(
    week: Annotated[
        str | None, typer.Option(help="An ISO week, YYYY-Www (e.g. 2026-W09): Monday to Sunday, UTC.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_PERIOD_DAYS, help="The last N days up to now (the default: 7)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown (for people) or json (for tools).")] = "markdown",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file instead of stdout.")
    ] = None,
) -> None:
    """The feedback report of a period beside the period before it (week over week): time to first response
    and to resolve, fix rate, SLA attainment, reopen, duplicate and automation rates, CSAT, the top
    categories and modules, the daily trend, the backlog by stage and the open tasks past their deadline."""
    if fmt not in ("markdown", "json"):
        raise typer.BadParameter("markdown or json", param_hint="--format")
    period = _period(week, days)
    settings = _settings()
    configure_logging(settings.logging, stream=sys.stderr)  # stdout carries the report
    built = asyncio.run(_build(settings, period))
    text = _render(built, fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"report written to [bold]{output}[/]")


def _render(built: FeedbackReport, fmt: str) -> str:
    if fmt == "json":
        import orjson

        return orjson.dumps(built.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
    return built.markdown()


async def _build(settings: Settings, period: Period) -> FeedbackReport:
    from loopdesk.core.db import Database, resolve_database_url
    from loopdesk.core.embedded import leave_embedded_postgres
    from loopdesk.core.migrate import run_migrations

    with console.status("starting the database…") as status:
        url = await asyncio.to_thread(resolve_database_url, settings)
        status.update("checking the schema…")
        await asyncio.to_thread(run_migrations, url)
        database = Database.connect(url, pool_size=1, max_overflow=0)
        step: Step = lambda part: status.update(f"querying {part}…")  # noqa: E731
        try:
            async with database.sessionmaker() as session, session.begin():
                # One snapshot for both periods, and a guarantee the report writes nothing.
                await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                return await build_report(session, period, now=datetime.now(UTC), step=step)
        finally:
            await database.dispose()
            if settings.database.database_url is None:
                await asyncio.to_thread(leave_embedded_postgres, settings.database.data_dir)

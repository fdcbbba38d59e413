"""`loopdesk logs ingest FILE`: load a log file (or stdin) straight into the store, committing every batch,
so a file of any size streams through in bounded memory."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from loopdesk.core.cli_support import settings_or_exit
from loopdesk.core.db import Database, resolve_database_url
from loopdesk.core.errors import LoopdeskError
from loopdesk.core.migrate import run_migrations
from loopdesk.core.settings import Settings
from loopdesk.triage.store.body import decoded, split_lines
from loopdesk.triage.store.ingest import LineParser
from loopdesk.triage.store.otlp import OtlpLinesParser
from loopdesk.triage.store.schemas import IngestParams
from loopdesk.triage.store.service import LogService, build_parser
from loopdesk.triage.store.writer import IngestReport, miner_templater

app = typer.Typer(help="The log store: load log files.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True, highlight=False)
_CHUNK = 1 << 20


@app.callback()
def main() -> None:
    """The log store (mounted as `loopdesk logs`). Configuration from LOOPDESK_* as for `serve`."""


def _settings() -> Settings:
    return settings_or_exit(console)


def _parser(params: IngestParams) -> LineParser:
    if params.format == "otlp":
        return OtlpLinesParser(service=params.service)
    try:
        return build_parser(params)
    except LoopdeskError as exc:
        raise typer.BadParameter(exc.message, param_hint="--pattern") from None


@app.command()
def ingest(
    file: Annotated[str, typer.Argument(help="A log file (`.gz` is inflated), or - for stdin.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, text, or otlp (one export request a line).")] = "jsonl",
    pattern: Annotated[
        str | None, typer.Option(help="text: a regex with named groups, or `{ts} {level} {message}`.")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Service recorded for lines that name none.")] = None,
    missing_ts: Annotated[str, typer.Option(help="Lines without a timestamp: error or now.")] = "error",
    no_templates: Annotated[bool, typer.Option("--no-templates", help="Do not mine message templates.")] = False,
) -> None:
    """Store every line the file holds; bad lines are counted and the first ones shown."""
    try:
        params = IngestParams.model_validate(
            {"format": fmt, "pattern": pattern, "service": service, "missing_ts": missing_ts}
        )
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from None
    parser = _parser(params)
    path = None if file == "-" else Path(file)
    if path is not None and not path.is_file():
        raise typer.BadParameter(f"no such file: {file}", param_hint="FILE")
    report = asyncio.run(_ingest(_settings(), parser, path, templates=not no_templates))
    console.print(f"stored [bold]{report.accepted}[/] records, [bold]{report.rejected}[/] lines refused")
    for error in report.errors[:20]:
        console.print(f"  line {error.line}: {error.reason}")
    if report.rejected > 20:
        console.print(f"  … and {report.rejected - 20} more")


async def _chunks(path: Path | None) -> AsyncIterator[bytes]:
    stream = sys.stdin.buffer if path is None else await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(stream.read, _CHUNK):
            yield chunk
    finally:
        if path is not None:
            stream.close()


async def _ingest(settings: Settings, parser: LineParser, path: Path | None, *, templates: bool) -> IngestReport:
    url = await asyncio.to_thread(resolve_database_url, settings)
    await asyncio.to_thread(run_migrations, url)
    database = Database.connect(url, pool_size=1, max_overflow=0)
    encoding = "gzip" if path is not None and path.suffix == ".gz" else None
    try:
        async with database.sessionmaker() as session:
            lines = split_lines(decoded(_chunks(path), encoding, max_inflated=sys.maxsize))
            templater = miner_templater() if templates else None
            report = await LogService(session).ingest(parser, lines, templater=templater, after_batch=session.commit)
            await session.commit()
            return report
    finally:
        await database.dispose()

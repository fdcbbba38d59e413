"""The `loopdesk` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from loopdesk import __version__
from loopdesk.core.cli_support import settings_or_exit
from loopdesk.core.settings import Settings
from loopdesk.feedback.cli import app as feedback_app
from loopdesk.runtime.config import ConfigFileError
from loopdesk.support.cli import app as templates_app
from loopdesk.support.demo.cli import demo
from loopdesk.support.intents.cli import app as intents_app
from loopdesk.system.retention import app as retention_app
from loopdesk.triage.cli import app as triage_app
from loopdesk.triage.cli import dedup_app, logs_app

app = typer.Typer(
    help="loopdesk: self-hosted AI agent service for support and feedback operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(triage_app, name="triage")
app.add_typer(logs_app, name="logs")
app.add_typer(dedup_app, name="dedup")
app.add_typer(feedback_app, name="feedback")
app.add_typer(templates_app, name="templates")
app.add_typer(intents_app, name="intents")
app.add_typer(retention_app, name="retention")
app.command("demo")(demo)
console = Console(stderr=True, highlight=False)


def _settings() -> Settings:
    return settings_or_exit(console)


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Configuration comes from LOOPDESK_* environment variables (or a .env file); see the README."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: LOOPDESK_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: LOOPDESK_PORT or 8000).")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A langgraph.json whose graphs to serve (default: LOOPDESK_GRAPHS_CONFIG)."),
    ] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; runs execute in `loopdesk worker` processes.")
    ] = False,
) -> None:
    """Start the service: database (embedded unless LOOPDESK_DATABASE_URL is set), migrations, API and a
    queue worker (a child process unless LOOPDESK_WORKER_PROCESS=false)."""
    import uvicorn

    from loopdesk.app import create_app, server_options
    from loopdesk.core.logging import configure_logging

    settings = _settings()
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    if config is not None:
        settings.runtime.graphs_config = config
    if no_worker:
        settings.runtime.worker = False
    configure_logging(settings.logging)
    try:
        application = create_app(settings, announce=True, worker_process=settings.runtime.worker_process)
    except ConfigFileError as exc:
        console.print(f"[bold red]graph configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    uvicorn.run(
        application, host=settings.server.host, port=settings.server.port, log_config=None, **server_options(settings)
    )


@app.command()
def worker(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The langgraph.json the server serves (default: LOOPDESK_GRAPHS_CONFIG)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Runs executed at once (default: LOOPDESK_WORKER_CONCURRENCY).")
    ] = None,
    parent: Annotated[int | None, typer.Option(hidden=True, help="Stop when this process is gone (serve's).")] = None,
    ready_fd: Annotated[int | None, typer.Option(hidden=True, help="Write a byte here once ready (serve's).")] = None,
    metrics_socket: Annotated[
        Path | None, typer.Option(hidden=True, help="Answer serve's /metrics on this Unix socket (serve's).")
    ] = None,
) -> None:
    """Run a queue worker without the HTTP API: executes runs, delivers webhooks, runs the sweeps.
    Start as many as you like, on any host that reaches the database (pair with `serve --no-worker`).
    SIGINT / SIGTERM stop it gracefully; unfinished runs go back to the queue."""
    from loopdesk.app import build_registry
    from loopdesk.core.logging import configure_logging
    from loopdesk.core.tracing import configure_tracing

    settings = _settings()
    if config is not None:
        settings.runtime.graphs_config = config
    if concurrency is not None:
        settings.runtime.worker_concurrency = concurrency
    configure_logging(settings.logging)
    configure_tracing(settings.tracing, role="worker")  # serve's worker child starts here too
    try:
        graphs = build_registry(settings)
    except ConfigFileError as exc:
        console.print(f"[bold red]graph configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    if parent is not None:
        from loopdesk.runtime.worker_process import stop_with_parent

        stop_with_parent(parent)
    if metrics_socket is None and settings.runtime.worker_metrics_port:
        from loopdesk.system.worker_metrics import serve_http

        serve_http(settings.runtime.worker_metrics_port, settings.runtime.worker_metrics_host)
    _run_loop(_worker(settings, graphs, ready_fd, metrics_socket))


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process's main coroutine on uvloop when it is installed (uvicorn[standard] brings it and the
    API runs on it), else on asyncio's own loop: asyncio's loop was ~20 % of the worker's CPU per run (py-spy)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop (Windows)
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _worker(  # type: ignore[no-untyped-def]
    settings: Settings, graphs, ready_fd: int | None = None, metrics_socket: Path | None = None
) -> None:
    from loopdesk.bootstrap import opened
    from loopdesk.runtime.worker_process import signal_ready
    from loopdesk.system.worker_metrics import socket_served

    async with opened(settings, graphs, readers=False) as services, socket_served(metrics_socket):
        await services.queue_worker().run_forever(on_ready=lambda: signal_ready(ready_fd))


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target Alembic revision.")] = "head",
) -> None:
    """Apply database migrations (app tables via Alembic, LangGraph tables via their setup())."""
    from loopdesk.core.db import resolve_database_url
    from loopdesk.core.logging import configure_logging
    from loopdesk.core.migrate import current_revision, run_migrations

    settings = _settings()
    configure_logging(settings.logging)
    with console.status("starting database…"):
        url = resolve_database_url(settings)
    before = current_revision(url)
    with console.status(f"migrating to {revision}…"):
        run_migrations(url, revision=revision)
    after = current_revision(url)
    console.print(f"database at revision [bold]{after}[/]" + ("" if before == after else f" (was {before})"))


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="The archive to write (a directory: a dated .tar inside it).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing archive.")] = False,
) -> None:
    """Back up the database (embedded, or LOOPDESK_DATABASE_URL; a running server keeps serving) and the data
    dir's JWT key into one tar archive with a checksummed manifest, written whole or not at all, mode 0600."""
    from loopdesk.core.logging import configure_logging
    from loopdesk.system.backup import BackupError, RichReporter, create_backup, describe_backup

    settings = _settings()
    configure_logging(settings.logging)
    try:
        with RichReporter(console) as reporter:
            manifest = create_backup(settings, path, force=force, reporter=reporter)
    except BackupError as exc:
        console.print(f"[bold red]backup failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(describe_backup(manifest))


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="An archive written by `loopdesk backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the contents of a database that is not empty.")
    ] = False,
    ignore_key_mismatch: Annotated[
        bool,
        typer.Option("--ignore-key-mismatch", help="Restore although the stored credentials would not decrypt."),
    ] = False,
) -> None:
    """Restore a backup into the configured database (a fresh data dir gets a new embedded cluster) and data dir:
    checks the archive first, then pg_restore, the JWT key (0600) and migrations if the backup is older.
    Stop `loopdesk serve` and workers first."""
    from loopdesk.core.logging import configure_logging
    from loopdesk.system.backup import BackupError, RichReporter, describe_restore, restore_backup

    settings = _settings()
    configure_logging(settings.logging)
    try:
        with RichReporter(console) as reporter:
            result = restore_backup(
                settings, path, force=force, ignore_key_mismatch=ignore_key_mismatch, reporter=reporter
            )
    except BackupError as exc:
        console.print(f"[bold red]restore failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(describe_restore(result))


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the document here (default: standard output).")
    ] = None,
) -> None:
    """Print the HTTP API's OpenAPI document (what `/openapi.json` serves; the console's types are made from it).
    Needs no database."""
    from loopdesk.app import create_app
    from loopdesk.console.apidoc import render

    text = render(create_app(_settings()).openapi())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


@app.command("demo-seed")
def demo_seed() -> None:
    """Seed the demo now (teams, staff, routing rules, a week of logs, reports walked through the workflow), on
    the configured database; does nothing where a team exists. Starts the service's lifespan without serving
    HTTP: migrations, the first admin and a queue worker for the workflow graph."""
    settings = _settings()
    settings.feedback.demo_seed = False  # seeded here, in the foreground, not by the lifespan
    settings.runtime.worker = True
    asyncio.run(_demo_seed(settings))


async def _demo_seed(settings: Settings) -> None:
    from loopdesk.app import create_app
    from loopdesk.feedback.demo import seed_demo

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        state = application.state
        with console.status("seeding the demo…"):
            seeded = await seed_demo(state.database, settings, state.graphs)
    console.print(seeded.banner() if seeded is not None else "demo not seeded: a team exists (or no admin does)")


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="E-mail address of the admin.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
    ],
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "Administrator",
) -> None:
    """Create an admin account, or make an existing account admin and set its password."""
    from pydantic import ValidationError

    from loopdesk.users.schemas import UserCreate

    try:
        data = UserCreate(email=email, password=password, display_name=display_name)
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]{'.'.join(map(str, err['loc']))}: {err['msg']}[/]")
        raise typer.Exit(2) from None
    settings = _settings()
    created = asyncio.run(_create_admin(settings, data))
    console.print(f"admin [bold]{data.email}[/] {'created' if created else 'updated'}")


async def _create_admin(settings: Settings, data) -> bool:  # type: ignore[no-untyped-def]
    from loopdesk.core.db import Database, resolve_database_url
    from loopdesk.core.migrate import run_migrations
    from loopdesk.users.service import UserService

    url = await asyncio.to_thread(resolve_database_url, settings)
    await asyncio.to_thread(run_migrations, url)
    database = Database.connect(url, pool_size=1, max_overflow=0)
    try:
        async with database.sessionmaker() as session, session.begin():
            return await UserService(session).upsert_admin(data)
    finally:
        await database.dispose()


if __name__ == "__main__":
    app()

"""Retention: operational rows older than a configured age each (LOOPDESK_RETENTION_*_DAYS, 0 = kept forever) are
deleted in batches: the event logs of finished runs, finished runs, sent and failed notification deliveries, log
store records, finished queue jobs and archived feedback tasks. The sweep is a periodic queue task (hourly, as the
feedback archive's), and `loopdesk retention status|sweep` report sizes and sweep now.

Archived feedback tasks go whole (timeline, reporters, attachments, deliveries, workflow thread) once
LOOPDESK_RETENTION_ARCHIVED_TASKS_DAYS is set (default 0: kept for good). The timeline stays append-only: its trigger
lets rows go only in the sweep's transaction and only an archived task's. Each batch is a transaction of its own and
takes its rows with SKIP LOCKED, so a sweep never waits on (or holds up) a run or a delivery in use; the rules' order
keeps a dry run's counts equal to what a sweep deletes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from subprocess import SubprocessError
from typing import TYPE_CHECKING, Annotated

import psycopg
import structlog
import typer
from rich.console import Console
from sqlalchemy import delete, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.core.settings import RetentionSettings, Settings
from loopdesk.feedback.models import Task, TaskAttachment, TaskEvent, TaskReporter
from loopdesk.notifications.models import NotificationDelivery
from loopdesk.runtime.runs.schemas import TERMINAL
from loopdesk.runtime.threads.deletion import delete_threads
from loopdesk.support.conversations.models import Escalation

if TYPE_CHECKING:
    import procrastinate

    from loopdesk.runtime.queue import WorkerContext

log = structlog.get_logger("loopdesk.retention")

TASK_NAME = "loopdesk.retention_sweep"
SWEEP_CRON = "41 * * * *"  # hourly, off the feedback archive's minute
BATCH = 1000

# A finished run: terminal, and no cancel its worker has yet to honour.
_FINISHED_RUN = "r.status = ANY(:terminal) AND r.cancel_action IS NULL AND r.updated_at < :cutoff"


@dataclass(frozen=True)
class Rule:
    name: str  # what the operator reads
    table: str
    setting: str  # the RetentionSettings field with its age in days
    count: str  # rows due (:cutoff)
    delete: str | Callable[[AsyncSession, datetime, int], Awaitable[int]]  # one batch (:cutoff, :limit): how many went

    def days(self, settings: RetentionSettings) -> float:
        return float(getattr(settings, self.setting))


# A finished queue job (a run job whose worker went silent ends `failed`, runs/tasks.py) with no event since the
# cutoff; one a periodic task's record still names stays (procrastinate keeps the latest of those).
_JOB_DUE = (
    "j.status::text IN ('succeeded', 'failed', 'cancelled', 'aborted') AND NOT EXISTS (SELECT 1 FROM "
    "procrastinate_events e WHERE e.job_id = j.id AND e.at >= :cutoff) AND NOT EXISTS (SELECT 1 FROM "
    "procrastinate_periodic_defers p WHERE p.job_id = j.id)"
)

# An archived task is due once archived before the cutoff; an original goes after its duplicates (they name it).
_DUE_TASK = "t.archived_at < :cutoff"
_TASKS_DUE = (
    f"SELECT count(*) FROM tasks t WHERE {_DUE_TASK} AND NOT EXISTS (SELECT 1 FROM tasks d "  # noqa: S608 - constants
    "WHERE d.duplicate_of = t.id AND (d.archived_at IS NULL OR d.archived_at >= :cutoff))"
)


async def _purge_archived_tasks(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """One batch of archived tasks with what is theirs: timeline, reporters, attachments, notification deliveries and
    the workflow thread (its runs and checkpoints); an escalation that opened one forgets its id. The timeline's
    trigger lets its rows go only in a transaction that says so, and only an archived task's."""
    due = text(
        f"SELECT t.id, t.workflow_thread_id FROM tasks t WHERE {_DUE_TASK} AND NOT EXISTS "  # noqa: S608 - constants
        "(SELECT 1 FROM tasks d WHERE d.duplicate_of = t.id) ORDER BY t.archived_at LIMIT :limit FOR UPDATE SKIP LOCKED"
    )
    rows = (await session.execute(due, {"cutoff": cutoff, "limit": limit})).all()
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    await session.execute(text("SELECT set_config('loopdesk.purge_tasks', 'on', true)"))
    for model in (TaskEvent, TaskReporter, TaskAttachment, NotificationDelivery):
        await session.execute(delete(model).where(model.task_id.in_(ids)))
    await session.execute(update(Escalation).where(Escalation.task_id.in_(ids)).values(task_id=None))
    await session.execute(delete(Task).where(Task.id.in_(ids)))
    await delete_threads(session, None, [row[1] for row in rows if row[1] is not None])
    return len(ids)


RULES: tuple[Rule, ...] = (
    Rule(
        "run event logs",
        "run_events",
        "retention_run_events_days",
        f"SELECT count(*) FROM run_events e JOIN runs r ON r.run_id = e.run_id WHERE {_FINISHED_RUN}",  # noqa: S608
        "DELETE FROM run_events WHERE run_id IN (SELECT r.run_id FROM runs r WHERE "  # noqa: S608 - constants
        f"{_FINISHED_RUN} AND EXISTS (SELECT 1 FROM run_events e WHERE e.run_id = r.run_id) "
        "LIMIT :limit FOR UPDATE OF r SKIP LOCKED)",
    ),
    Rule(
        "finished runs",
        "runs",
        "retention_runs_days",
        f"SELECT count(*) FROM runs r WHERE {_FINISHED_RUN}",  # noqa: S608 - constants
        f"DELETE FROM runs WHERE run_id IN (SELECT r.run_id FROM runs r WHERE {_FINISHED_RUN} "  # noqa: S608
        "LIMIT :limit FOR UPDATE SKIP LOCKED)",
    ),
    Rule(
        "notification deliveries",
        "notification_deliveries",
        "retention_notification_deliveries_days",
        "SELECT count(*) FROM notification_deliveries WHERE status IN ('sent', 'failed') AND created_at < :cutoff",
        "DELETE FROM notification_deliveries WHERE id IN (SELECT id FROM notification_deliveries WHERE status IN "
        "('sent', 'failed') AND created_at < :cutoff LIMIT :limit FOR UPDATE SKIP LOCKED)",
    ),
    Rule(
        "log store records",
        "log_records",
        "retention_log_records_days",
        "SELECT count(*) FROM log_records WHERE ts < :cutoff",
        "DELETE FROM log_records WHERE id IN (SELECT id FROM log_records WHERE ts < :cutoff LIMIT :limit)",
    ),
    Rule(
        "finished queue jobs",
        "procrastinate_jobs",
        "retention_queue_jobs_days",
        f"SELECT count(*) FROM procrastinate_jobs j WHERE {_JOB_DUE}",  # noqa: S608 - constants
        f"DELETE FROM procrastinate_jobs WHERE id IN (SELECT j.id FROM procrastinate_jobs j WHERE {_JOB_DUE} "  # noqa: S608
        "LIMIT :limit FOR UPDATE SKIP LOCKED)",
    ),
    Rule("archived tasks", "tasks", "retention_archived_tasks_days", _TASKS_DUE, _purge_archived_tasks),
)


def _params(cutoff: datetime, **more: object) -> dict[str, object]:
    return {"cutoff": cutoff, "terminal": list(TERMINAL), **more}


async def _delete_batch(session: AsyncSession, rule: Rule, cutoff: datetime, limit: int) -> int:
    if not isinstance(rule.delete, str):
        return await rule.delete(session, cutoff, limit)
    return (await session.execute(text(rule.delete), _params(cutoff, limit=limit))).rowcount  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    days: float
    rows: int  # deleted, or due in a dry run


async def sweep(
    database: Database,
    settings: RetentionSettings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch: int = BATCH,
    progress: Callable[[Rule, int], None] | None = None,
) -> list[Outcome]:
    """Delete (or, dry, count) what each rule has due; rules with age 0 keep everything."""
    now = now or datetime.now(UTC)
    outcomes = []
    for rule in RULES:
        days = rule.days(settings)
        if days <= 0:
            outcomes.append(Outcome(rule, days, 0))
            continue
        cutoff = now - timedelta(days=days)
        total = 0
        if dry_run:
            async with database.sessionmaker() as session:
                total = int((await session.execute(text(rule.count), _params(cutoff))).scalar_one())
        else:
            while True:
                async with database.sessionmaker() as session, session.begin():
                    gone = await _delete_batch(session, rule, cutoff, batch)
                total += gone
                if progress is not None:
                    progress(rule, total)
                if gone == 0:  # not `< batch`: an original task becomes due once its duplicates went
                    break
            if total:
                log.info("retention.swept", table=rule.table, rows=total, older_than_days=days)
        outcomes.append(Outcome(rule, days, total))
    return outcomes


@dataclass(frozen=True)
class TableSize:
    rule: Rule
    days: float
    rows: int
    bytes: int  # the table's, with its indexes and TOAST
    due: int


async def sizes(database: Database, settings: RetentionSettings, *, now: datetime | None = None) -> list[TableSize]:
    now = now or datetime.now(UTC)
    found = []
    async with database.sessionmaker() as session:
        for rule in RULES:
            days = rule.days(settings)
            row = (
                await session.execute(
                    text(f"SELECT count(*), pg_total_relation_size(CAST(:table AS regclass)) FROM {rule.table}"),  # noqa: S608
                    {"table": rule.table},
                )
            ).one()
            due = 0
            if days > 0:
                cutoff = now - timedelta(days=days)
                due = int((await session.execute(text(rule.count), _params(cutoff))).scalar_one())
            found.append(TableSize(rule, days, int(row[0]), int(row[1]), due))
    return found


async def database_bytes(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(text("SELECT pg_database_size(current_database())"))).scalar_one())


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    """The hourly sweep, registered like every domain's tasks (runtime/worker.py's `_DOMAINS`)."""
    from loopdesk.runtime.queue import QUEUE

    database, settings = context.database, context.settings

    @app.periodic(cron=SWEEP_CRON)
    @app.task(name=TASK_NAME, queue=QUEUE)
    async def retention_sweep(timestamp: int) -> None:
        """Rows past their LOOPDESK_RETENTION_*_DAYS: deleted in batches."""
        await sweep(database, settings.retention)


# --- `loopdesk retention` ------------------------------------------------------------------------------------

app = typer.Typer(
    help="How long operational rows are kept (LOOPDESK_RETENTION_*_DAYS): sizes, and a sweep now.",
    no_args_is_help=True,
)
console = Console(stderr=True, highlight=False)


def _age(days: float) -> str:
    return "forever" if days <= 0 else f"{days:g} days"


async def _with_database(settings: Settings, work):  # type: ignore[no-untyped-def]
    from loopdesk.core.db import resolve_database_url
    from loopdesk.core.embedded import leave_embedded_postgres
    from loopdesk.core.migrate import run_migrations

    try:
        with console.status("starting the database…") as status:
            url = await asyncio.to_thread(resolve_database_url, settings)
            status.update("checking the schema…")
            await asyncio.to_thread(run_migrations, url)
    except (OSError, SubprocessError, psycopg.Error, SQLAlchemyError, RuntimeError, ValueError) as exc:
        console.print(f"[bold red]cannot open the database:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    database = Database.connect(url, pool_size=1, max_overflow=0)
    try:
        return await work(database)
    finally:
        await database.dispose()
        if settings.database.database_url is None:
            await asyncio.to_thread(leave_embedded_postgres, settings.database.data_dir)


@app.command("status")
def status_command() -> None:
    """Rows and bytes of each table retention governs, how long its rows are kept and how many are due now."""
    from rich.filesize import decimal
    from rich.table import Table

    from loopdesk.core.cli_support import settings_or_exit
    from loopdesk.core.logging import configure_logging

    settings = settings_or_exit(console)
    configure_logging(settings.logging)

    async def work(database: Database) -> tuple[list[TableSize], int]:
        return await sizes(database, settings.retention), await database_bytes(database)

    found, total = asyncio.run(_with_database(settings, work))
    table = Table(title="retention", caption=f"the whole database: {decimal(total)}")
    for column in ("what", "table", "rows", "size", "kept for", "due now"):
        right = column in ("rows", "size", "due now")
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "what")
    for size in found:
        table.add_row(
            size.rule.name,
            size.rule.table,
            f"{size.rows:,}",
            decimal(size.bytes),
            _age(size.days),
            f"{size.due:,}" if size.days > 0 else "-",
        )
    Console(highlight=False).print(table)


@app.command("sweep")
def sweep_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due; delete nothing.")] = False,
) -> None:
    """Delete every row past its age now, in batches (what the hourly queue task does)."""
    from loopdesk.core.cli_support import settings_or_exit
    from loopdesk.core.logging import configure_logging

    settings = settings_or_exit(console)
    configure_logging(settings.logging)

    async def work(database: Database) -> list[Outcome]:
        with console.status("sweeping…") as status:
            return await sweep(
                database,
                settings.retention,
                dry_run=dry_run,
                progress=lambda rule, rows: status.update(f"sweeping {rule.name}: {rows:,} deleted…"),
            )

    outcomes = asyncio.run(_with_database(settings, work))
    verb = "due" if dry_run else "deleted"
    for outcome in outcomes:
        if outcome.days <= 0:
            console.print(f"{outcome.rule.name}: kept forever (LOOPDESK_{outcome.rule.setting.upper()}=0)")
        else:
            console.print(f"{outcome.rule.name}: {outcome.rows:,} {verb} (older than {_age(outcome.days)})")

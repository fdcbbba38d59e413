"""The feedback loop's queue tasks: SLA checks and escalation, archiving finished tasks, and (when
configured) opening tasks from error-rate incidents in the log store."""

from __future__ import annotations

import procrastinate

from loopdesk.runtime.queue import QUEUE, WorkerContext

FEEDBACK_SLA_TASK = "loopdesk.check_feedback_sla"
ARCHIVE_TASK = "loopdesk.archive_feedback_tasks"


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    settings, database = context.settings, context.database

    @app.periodic(cron=settings.feedback_sla.sla_check_cron)
    @app.task(name=FEEDBACK_SLA_TASK, queue=QUEUE)
    async def check_feedback_sla(timestamp: int) -> None:
        """Open feedback tasks near or past their stage's limit: warned once, then escalated level by level."""
        from loopdesk.feedback.sla_job import check_sla

        await check_sla(database, config=settings.feedback_sla)

    @app.periodic(cron="17 * * * *")
    @app.task(name=ARCHIVE_TASK, queue=QUEUE)
    async def archive_finished_tasks(timestamp: int) -> None:
        """Closed and rejected feedback tasks past LOOPDESK_FEEDBACK_ARCHIVE_AFTER_DAYS: archived (hourly)."""
        from loopdesk.feedback.archive import archive_finished

        await archive_finished(database, after_days=settings.feedback.feedback_archive_after_days)

    if seconds := settings.feedback.feedback_auto_intake_seconds:
        from loopdesk.feedback.auto_intake import TASK_NAME, run_auto_intake, schedule

        @app.periodic(cron=schedule(seconds))
        @app.task(name=TASK_NAME, queue=QUEUE)
        async def feedback_auto_intake(timestamp: int) -> None:
            """New high-severity error-rate incidents in the log store open (or join) `auto` tasks."""
            await run_auto_intake(database, settings=settings, graphs=context.graphs)

"""The crons domain's queue task: starting the scheduled runs that are due."""

from __future__ import annotations

import procrastinate

from loopdesk.runtime.crons.service import fire_due_crons
from loopdesk.runtime.queue import QUEUE, WorkerContext

CRON_TASK = "loopdesk.fire_due_crons"


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    @app.periodic(cron="* * * * * */5")
    @app.task(name=CRON_TASK, queue=QUEUE)
    async def fire_crons(timestamp: int) -> None:
        """Scheduled runs that are due (checked every 5 s; cron schedules have minute precision)."""
        await fire_due_crons(
            context.database, context.graphs, limiter=context.limiter, settings=context.settings.sessions
        )

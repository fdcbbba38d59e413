"""The support desk's queue task: closing conversations that went quiet, with their resolution."""

from __future__ import annotations

import procrastinate

from loopdesk.runtime.queue import QUEUE, WorkerContext

SUPPORT_SWEEP_TASK = "loopdesk.close_quiet_conversations"


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    @app.periodic(cron="* * * * *")
    @app.task(name=SUPPORT_SWEEP_TASK, queue=QUEUE)
    async def close_quiet_conversations(timestamp: int) -> None:
        """Support conversations quiet for LOOPDESK_SUPPORT_QUIET_MINUTES: closed with their resolution."""
        from loopdesk.support.conversations.sweep import close_quiet_conversations as close_quiet

        await close_quiet(context.database, quiet_minutes=context.settings.support.support_quiet_minutes)

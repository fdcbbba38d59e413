"""The notification jobs a queue worker runs: sending the deliveries a cause wrote (queued with them by
`notify`) and the periodic sweep of due pending deliveries (retries, and rows a dead worker left behind)."""

from __future__ import annotations

import procrastinate

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.notifications.outbox import Outbox
from loopdesk.notifications.service import SEND_TASK
from loopdesk.runtime.queue import QUEUE

SWEEP_TASK = "loopdesk.sweep_notifications"


def register_jobs(app: procrastinate.App, database: Database, settings: Settings) -> Outbox:
    outbox = Outbox(database, settings)

    @app.task(name=SEND_TASK, queue=QUEUE)
    async def send_notifications(delivery_ids: list[int]) -> None:
        await outbox.send(delivery_ids)

    @app.periodic(cron=f"* * * * * */{settings.notifications.notification_sweep_seconds}")
    @app.task(name=SWEEP_TASK, queue=QUEUE)
    async def sweep_notifications(timestamp: int) -> None:
        await outbox.sweep()

    return outbox

"""The tool layer's queue tasks: importing an OpenAPI document for review, and expiring approvals."""

from __future__ import annotations

import uuid

import procrastinate

from loopdesk.runtime.queue import OPENAPI_TASK, QUEUE, WorkerContext

APPROVAL_EXPIRY_TASK = "loopdesk.expire_approvals"


def register_tasks(app: procrastinate.App, context: WorkerContext) -> None:
    @app.task(name=OPENAPI_TASK, queue=QUEUE)
    async def import_openapi(import_id: str) -> None:
        """Fetch, parse and classify an OpenAPI document for review."""
        from loopdesk.tools.openapi.imports import process_import

        await process_import(context.database, context.settings, uuid.UUID(import_id))

    @app.periodic(cron=f"* * * * * */{context.settings.tools.approval_sweep_seconds}")
    @app.task(name=APPROVAL_EXPIRY_TASK, queue=QUEUE)
    async def expire_approvals(timestamp: int) -> None:
        """Pending approvals past their expiry: cancelled, and their runs resumed with the cancellation."""
        from loopdesk.tools.approvals.service import expire_due

        await expire_due(context.database, context.graphs)

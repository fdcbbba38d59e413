"""SaaS demo backend: accounts, plans, seats and invoices."""

from __future__ import annotations

from loopdesk.support.demo._app import Backend, BackendInfo
from loopdesk.support.demo.saas import seed
from loopdesk.support.demo.saas.endpoints import router

BACKEND = Backend(
    info=BackendInfo(
        name="saas",
        title="Demo SaaS Billing API",
        port=8102,
        description="A software company's billing desk: look up accounts and invoices, change an account's plan and "
        "set its seats within the plan's limits. Writes honour an Idempotency-Key header: a repeated key replays "
        "the first answer.",
    ),
    router=router,
    schema=seed.SCHEMA,
    rows=seed.rows,
    highlights=seed.highlights,
)

"""Fintech demo backend: cardholders, cards, transactions and disputes."""

from __future__ import annotations

from loopdesk.support.demo._app import Backend, BackendInfo
from loopdesk.support.demo.fintech import seed
from loopdesk.support.demo.fintech.endpoints import router

BACKEND = Backend(
    info=BackendInfo(
        name="fintech",
        title="Demo Card Services API",
        port=8103,
        description="A card issuer's support desk: look up cards and their transactions, freeze and unfreeze cards, "
        "and open disputes on contested transactions. Writes honour an Idempotency-Key header: a repeated key "
        "replays the first answer.",
    ),
    router=router,
    schema=seed.SCHEMA,
    rows=seed.rows,
    highlights=seed.highlights,
)

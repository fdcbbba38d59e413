"""E-commerce demo backend: customers, orders, refunds and coupons."""

from __future__ import annotations

from loopdesk.support.demo._app import Backend, BackendInfo
from loopdesk.support.demo.ecommerce import seed
from loopdesk.support.demo.ecommerce.endpoints import router

BACKEND = Backend(
    info=BackendInfo(
        name="ecommerce",
        title="Demo Shop API",
        port=8101,
        description="An online shop's order desk: look up orders and their shipment, cancel orders that have not "
        "shipped, issue refunds within what was paid, and apply coupon codes. Writes honour an Idempotency-Key "
        "header: a repeated key replays the first answer.",
    ),
    router=router,
    schema=seed.SCHEMA,
    rows=seed.rows,
    highlights=seed.highlights,
)

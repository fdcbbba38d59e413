"""The shop's HTTP operations. Their ids, summaries and descriptions are what an imported agent reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from loopdesk.support.demo._app import Conn, IdempotencyKey, errors
from loopdesk.support.demo._writes import run_write
from loopdesk.support.demo.ecommerce import service
from loopdesk.support.demo.ecommerce.schemas import CancelIn, CancelResult, Coupon, CouponIn, Order, Refund, RefundIn

router = APIRouter()

OrderId = Annotated[str, Path(max_length=32, description="Order number, e.g. A1001.")]


@router.get(
    "/orders/{order_id}",
    operation_id="getOrder",
    summary="Look up one order: status, items, totals and shipment tracking.",
    response_model=Order,
    responses=errors(404),
)
def get_order(conn: Conn, order_id: OrderId) -> Order:
    """Answers where an order is: its status, carrier, tracking number and estimated delivery date, what it
    contains, what was paid and what can still be refunded."""
    return service.get_order(conn, order_id)


@router.get(
    "/orders",
    operation_id="listOrders",
    summary="List a customer's orders by their e-mail address, newest first.",
    response_model=list[Order],
    responses=errors(404),
)
def list_orders(
    conn: Conn, email: Annotated[str, Query(max_length=254, description="The customer's e-mail address.")]
) -> list[Order]:
    """Use it when the customer does not know the order number. Answers 404 when no customer has that address."""
    return service.list_orders(conn, email)


@router.post(
    "/orders/{order_id}/cancel",
    operation_id="cancelOrder",
    summary="Cancel an order that has not shipped yet (refunds what was paid).",
    response_model=CancelResult,
    responses=errors(404, 409),
)
def cancel_order(
    conn: Conn, order_id: OrderId, body: CancelIn | None = None, key: IdempotencyKey = None
) -> JSONResponse:
    """Only pending and paid orders can be cancelled; a paid order is refunded in full at once. A shipped,
    delivered or already cancelled order answers 409 with the reason."""
    reason = body.reason if body else None
    args = {"order_id": order_id, "reason": reason}
    return run_write(conn, "cancelOrder", key, args, lambda c: service.cancel_order(c, order_id, reason))


@router.post(
    "/orders/{order_id}/refunds",
    operation_id="createRefund",
    summary="Refund part or all of an order's payment to the customer.",
    status_code=201,
    response_model=Refund,
    responses=errors(404, 422),
)
def create_refund(conn: Conn, order_id: OrderId, body: RefundIn, key: IdempotencyKey = None) -> JSONResponse:
    """The order must be paid, shipped or delivered, and the amount at most its `refundable` (paid minus what was
    already refunded); anything else answers 422 saying why."""
    args = {"order_id": order_id, **body.model_dump()}
    return run_write(
        conn, "createRefund", key, args, lambda c: service.create_refund(c, order_id, body.amount, body.reason),
        status=201,
    )  # fmt: skip


@router.get(
    "/orders/{order_id}/refunds",
    operation_id="listRefunds",
    summary="List the refunds issued for an order.",
    response_model=list[Refund],
    responses=errors(404),
)
def list_refunds(conn: Conn, order_id: OrderId) -> list[Refund]:
    """Every refund of the order, oldest first, including the one a cancellation or a late coupon issued."""
    return service.list_refunds(conn, order_id)


@router.get(
    "/coupons/{code}",
    operation_id="getCoupon",
    summary="Look up a coupon code: its discount, minimum subtotal and expiry.",
    response_model=Coupon,
    responses=errors(404),
)
def get_coupon(conn: Conn, code: Annotated[str, Path(max_length=64, description="The coupon code.")]) -> Coupon:
    """Tells whether a code exists and can still be used (`expired`), before applying it to an order."""
    return service.get_coupon(conn, code)


@router.post(
    "/orders/{order_id}/coupon",
    operation_id="applyCoupon",
    summary="Apply a coupon code to an order that has not shipped yet.",
    response_model=Order,
    responses=errors(404, 409, 422),
)
def apply_coupon(conn: Conn, order_id: OrderId, body: CouponIn, key: IdempotencyKey = None) -> JSONResponse:
    """One coupon per order, only while it is pending or paid (409 otherwise). An unknown code answers 404, an
    expired one or a subtotal below the coupon's minimum 422. On a paid order the discount is refunded."""
    args = {"order_id": order_id, "code": body.code}
    return run_write(conn, "applyCoupon", key, args, lambda c: service.apply_coupon(c, order_id, body.code))

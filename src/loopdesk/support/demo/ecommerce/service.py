"""The shop's rules, on its SQLite tables: what can be cancelled, refunded or discounted, and why not."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from loopdesk.support.demo._db import DemoError
from loopdesk.support.demo._money import cents, money, text
from loopdesk.support.demo._writes import now
from loopdesk.support.demo.ecommerce.schemas import CancelResult, Coupon, Order, OrderItem, Refund

CANCELLABLE = ("pending", "paid")
REFUNDABLE = ("paid", "shipped", "delivered")


def order_key(order_id: str) -> str:
    return order_id.strip().lstrip("#").upper()


def _refunded_cents(conn: sqlite3.Connection, order_id: str) -> int:
    row = conn.execute("SELECT COALESCE(SUM(amount_cents), 0) FROM refunds WHERE order_id = ?", (order_id,))
    return int(row.fetchone()[0])


def _order(conn: sqlite3.Connection, row: sqlite3.Row) -> Order:
    items = conn.execute(
        "SELECT sku, name, quantity, unit_price_cents FROM order_items WHERE order_id = ? ORDER BY position",
        (row["id"],),
    ).fetchall()
    refunded = _refunded_cents(conn, row["id"])
    return Order(
        id=row["id"],
        email=row["email"],
        customer_name=row["name"],
        status=row["status"],
        items=[
            OrderItem(sku=i["sku"], name=i["name"], quantity=i["quantity"], unit_price=money(i["unit_price_cents"]))
            for i in items
        ],
        subtotal=money(row["subtotal_cents"]),
        discount=money(row["discount_cents"]),
        total=money(row["subtotal_cents"] - row["discount_cents"]),
        paid=money(row["paid_cents"]),
        refunded=money(refunded),
        refundable=money(row["paid_cents"] - refunded),
        currency=row["currency"],
        coupon_code=row["coupon_code"],
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        estimated_delivery=row["estimated_delivery"],
        placed_at=row["placed_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
    )


def _order_row(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT o.*, c.name FROM orders o JOIN customers c USING (email) WHERE o.id = ?", (order_key(order_id),)
    ).fetchone()
    if row is None:
        raise DemoError(404, f"no order {order_id!r}; order numbers look like A1001")
    return row


def get_order(conn: sqlite3.Connection, order_id: str) -> Order:
    return _order(conn, _order_row(conn, order_id))


def list_orders(conn: sqlite3.Connection, email: str) -> list[Order]:
    address = email.strip().lower()
    if conn.execute("SELECT 1 FROM customers WHERE email = ?", (address,)).fetchone() is None:
        raise DemoError(404, f"no customer with the e-mail address {email!r}")
    found = conn.execute(
        "SELECT o.*, c.name FROM orders o JOIN customers c USING (email) WHERE o.email = ? ORDER BY o.placed_at DESC",
        (address,),
    ).fetchall()
    return [_order(conn, row) for row in found]


def _add_refund(conn: sqlite3.Connection, order_id: str, amount_cents: int, currency: str, reason: str) -> Refund:
    count = conn.execute("SELECT COUNT(*) FROM refunds").fetchone()[0]
    refund = Refund(
        id=f"R-{1001 + count}",
        order_id=order_id,
        amount=money(amount_cents),
        currency=currency,
        reason=reason,
        created_at=now(),
    )
    conn.execute(
        "INSERT INTO refunds (id, order_id, amount_cents, reason, created_at) VALUES (?, ?, ?, ?, ?)",
        (refund.id, order_id, amount_cents, reason, refund.created_at),
    )
    return refund


def cancel_order(conn: sqlite3.Connection, order_id: str, reason: str | None) -> CancelResult:
    row = _order_row(conn, order_id)
    order_id, status = row["id"], row["status"]
    if status == "cancelled":
        raise DemoError(409, f"order {order_id} was already cancelled on {row['cancelled_at'][:10]}")
    if status == "shipped":
        raise DemoError(
            409,
            f"order {order_id} has shipped ({row['carrier']} {row['tracking_number']}) and can no longer be "
            "cancelled; once it is delivered it can be refunded",
        )
    if status not in CANCELLABLE:
        raise DemoError(409, f"order {order_id} is {status} and can no longer be cancelled; it can be refunded")
    refund = None
    owed = row["paid_cents"] - _refunded_cents(conn, order_id)
    if status == "paid" and owed > 0:
        refund = _add_refund(conn, order_id, owed, row["currency"], "order cancelled before shipping")
    conn.execute(
        "UPDATE orders SET status = 'cancelled', cancelled_at = ?, cancel_reason = ? WHERE id = ?",
        (now(), reason, order_id),
    )
    return CancelResult(order=get_order(conn, order_id), refund=refund)


def create_refund(conn: sqlite3.Connection, order_id: str, amount: float, reason: str) -> Refund:
    row = _order_row(conn, order_id)
    order_id, status, currency = row["id"], row["status"], row["currency"]
    if status not in REFUNDABLE:
        why = "nothing has been paid yet" if status == "pending" else "cancelling it already refunded what was paid"
        raise DemoError(422, f"order {order_id} is {status}: {why}")
    wanted = cents(amount)
    refunded = _refunded_cents(conn, order_id)
    refundable = row["paid_cents"] - refunded
    if wanted > refundable:
        raise DemoError(
            422,
            f"a refund of {text(wanted, currency)} exceeds what order {order_id} can still refund: "
            f"{text(refundable, currency)} (paid {text(row['paid_cents'], currency)}, "
            f"refunded {text(refunded, currency)})",
        )
    return _add_refund(conn, order_id, wanted, currency, reason)


def list_refunds(conn: sqlite3.Connection, order_id: str) -> list[Refund]:
    row = _order_row(conn, order_id)
    found = conn.execute("SELECT * FROM refunds WHERE order_id = ? ORDER BY created_at, id", (row["id"],))
    return [
        Refund(
            id=r["id"],
            order_id=r["order_id"],
            amount=money(r["amount_cents"]),
            currency=row["currency"],
            reason=r["reason"],
            created_at=r["created_at"],
        )
        for r in found.fetchall()
    ]


def _coupon_row(conn: sqlite3.Connection, code: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM coupons WHERE code = ?", (code.strip().upper(),)).fetchone()
    if row is None:
        raise DemoError(404, f"no coupon {code!r}")
    return row


def _expired(row: sqlite3.Row) -> bool:
    return row["expires_on"] < datetime.now(UTC).date().isoformat()


def get_coupon(conn: sqlite3.Connection, code: str) -> Coupon:
    row = _coupon_row(conn, code)
    amount_off = row["amount_off_cents"]
    return Coupon(
        code=row["code"],
        description=row["description"],
        percent_off=row["percent_off"],
        amount_off=money(amount_off) if amount_off is not None else None,
        min_subtotal=money(row["min_subtotal_cents"]),
        expires_on=row["expires_on"],
        expired=_expired(row),
    )


def apply_coupon(conn: sqlite3.Connection, order_id: str, code: str) -> Order:
    order = _order_row(conn, order_id)
    coupon = _coupon_row(conn, code)
    order_id, currency, subtotal = order["id"], order["currency"], order["subtotal_cents"]
    if order["status"] not in CANCELLABLE:
        raise DemoError(409, f"order {order_id} is {order['status']}: coupons apply only before shipping")
    if order["coupon_code"]:
        raise DemoError(409, f"order {order_id} already uses coupon {order['coupon_code']}; one coupon per order")
    if _expired(coupon):
        raise DemoError(422, f"coupon {coupon['code']} expired on {coupon['expires_on']}")
    if subtotal < coupon["min_subtotal_cents"]:
        raise DemoError(
            422,
            f"coupon {coupon['code']} needs a subtotal of at least {text(coupon['min_subtotal_cents'], currency)}; "
            f"order {order_id} comes to {text(subtotal, currency)}",
        )
    if coupon["percent_off"] is not None:
        discount = subtotal * coupon["percent_off"] // 100
    else:
        discount = min(coupon["amount_off_cents"], subtotal)
    conn.execute(
        "UPDATE orders SET coupon_code = ?, discount_cents = ? WHERE id = ?", (coupon["code"], discount, order_id)
    )
    if order["status"] == "paid" and discount:
        # The customer paid the full price: the discount goes back to them.
        _add_refund(conn, order_id, discount, currency, f"coupon {coupon['code']} applied after payment")
    return get_order(conn, order_id)

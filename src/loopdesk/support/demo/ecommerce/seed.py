"""The shop's tables and its seed: customers with English and Chinese names, orders in every status (A1003 is a
delivered 899.00 order for refund-limit scenarios), one earlier refund and three coupons, one of them expired."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE customers (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES customers (email),
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    currency TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL,
    discount_cents INTEGER NOT NULL,
    paid_cents INTEGER NOT NULL,
    coupon_code TEXT,
    carrier TEXT,
    tracking_number TEXT,
    estimated_delivery TEXT,
    placed_at TEXT NOT NULL,
    cancelled_at TEXT,
    cancel_reason TEXT
);
CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    percent_off INTEGER,
    amount_off_cents INTEGER,
    min_subtotal_cents INTEGER NOT NULL,
    expires_on TEXT NOT NULL
);
"""

CUSTOMERS = [
    ("alice@example.com", "Alice Johnson"),
    ("wei.zhang@example.com", "张伟"),
    ("li.na@example.com", "李娜"),
    ("bob.smith@example.com", "Bob Smith"),
]

# id, email, status, currency, subtotal, discount, paid, coupon, carrier, tracking, estimated delivery, placed at
ORDERS = [
    ("A1001", "alice@example.com", "shipped", "USD", 15900, 0, 15900, None,
     "UPS", "1Z999AA10123456784", "2025-06-14", "2025-06-09T10:15:00Z"),
    ("A1002", "alice@example.com", "pending", "USD", 4550, 0, 0, None, None, None, None, "2025-06-11T08:02:00Z"),
    ("A1003", "wei.zhang@example.com", "delivered", "USD", 89900, 0, 89900, None,
     "FedEx", "7720 1234 5678", "2025-05-28", "2025-05-22T14:40:00Z"),
    ("A1004", "wei.zhang@example.com", "paid", "USD", 8900, 0, 8900, None, None, None, None, "2025-06-10T03:30:00Z"),
    ("A1005", "li.na@example.com", "shipped", "CNY", 59800, 0, 59800, None,
     "SF Express", "SF1234567890123", "2025-06-13", "2025-06-08T06:20:00Z"),
    ("A1006", "li.na@example.com", "pending", "CNY", 12800, 0, 0, None, None, None, None, "2025-06-11T12:00:00Z"),
    ("A1007", "bob.smith@example.com", "delivered", "USD", 12000, 0, 12000, None,
     "USPS", "9400 1000 0000 0000 0000 00", "2025-05-30", "2025-05-25T17:45:00Z"),
    ("A1008", "bob.smith@example.com", "paid", "USD", 23400, 2340, 21060, "WELCOME10",
     None, None, None, "2025-06-10T19:10:00Z"),
]  # fmt: skip

ITEMS = [
    ("A1001", 1, "HP-200", "Wireless headphones", 1, 12900),
    ("A1001", 2, "CB-USB-C", "USB-C cable (1 m)", 2, 1500),
    ("A1002", 1, "LMP-45", "Desk lamp", 1, 4550),
    ("A1003", 1, "LT-14", "14-inch laptop", 1, 89900),
    ("A1004", 1, "KB-87", "Mechanical keyboard", 1, 8900),
    ("A1005", 1, "TEA-SET", "青瓷茶具套装", 1, 59800),
    ("A1006", 1, "MUG-02", "马克杯（两只装）", 2, 6400),
    ("A1007", 1, "SH-RUN", "Running shoes", 1, 12000),
    ("A1008", 1, "MON-24", "24-inch monitor", 1, 23400),
]

REFUNDS = [("R-1001", "A1007", 2000, "price adjustment after a promotion", "2025-06-01T09:00:00Z")]

COUPONS = [
    ("WELCOME10", "10% off your order", 10, None, 0, "2099-12-31"),
    ("SAVE20", "20.00 off orders of 100.00 or more", None, 2000, 10000, "2099-12-31"),
    ("SPRING2024", "15% off (spring 2024 sale)", 15, None, 0, "2024-05-31"),
]


def rows() -> dict[str, list[tuple]]:
    orders = [(*order, None, None) for order in ORDERS]
    return {"customers": CUSTOMERS, "orders": orders, "order_items": ITEMS, "refunds": REFUNDS, "coupons": COUPONS}


def highlights(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    found = conn.execute(
        "SELECT o.id, o.status, o.currency, o.subtotal_cents - o.discount_cents AS total, c.name, c.email"
        " FROM orders o JOIN customers c USING (email) ORDER BY o.id LIMIT 5"
    ).fetchall()
    lines = [(row["id"], f"{row['status']}, {row['total'] / 100:.2f} {row['currency']}, {row['name']} <{row['email']}>")
             for row in found]  # fmt: skip
    return [*lines, ("coupons", "WELCOME10, SAVE20 (SPRING2024 has expired)")]

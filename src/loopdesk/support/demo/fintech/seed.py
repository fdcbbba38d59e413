"""The card desk's tables and seed: cardholders with English and Chinese names, an active and a frozen card,
transactions (one pending, one credit) and a dispute already open on one of them."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE cardholders (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE cards (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES cardholders (email),
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'frozen')),
    limit_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    frozen_at TEXT,
    frozen_reason TEXT
);
CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    card_id TEXT NOT NULL REFERENCES cards (id),
    merchant TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'posted')),
    at TEXT NOT NULL
);
CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE REFERENCES transactions (id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    created_at TEXT NOT NULL
);
"""

CARDHOLDERS = [
    ("alice@example.com", "Alice Johnson"),
    ("wei.zhang@example.com", "张伟"),
    ("li.na@example.com", "李娜"),
    ("bob.smith@example.com", "Bob Smith"),
]

CARDS = [
    ("C-4411", "alice@example.com", "Visa", "4411", "active", 500000, "USD", None, None),
    ("C-4412", "alice@example.com", "Visa", "4412", "frozen", 100000, "USD", "2025-06-05T08:00:00Z", "card lost"),
    ("C-7788", "wei.zhang@example.com", "UnionPay", "7788", "active", 3000000, "CNY", None, None),
    ("C-5205", "li.na@example.com", "Mastercard", "5205", "active", 2000000, "CNY", None, None),
    ("C-3300", "bob.smith@example.com", "Mastercard", "3300", "active", 300000, "USD", None, None),
]

TRANSACTIONS = [
    ("T-5001", "C-4411", "Blue Bottle Coffee", 650, "USD", "posted", "2025-06-08T08:12:00Z"),
    ("T-5002", "C-4411", "StreamFlix subscription", 1599, "USD", "posted", "2025-06-09T00:00:00Z"),
    ("T-5003", "C-4411", "ELECTRO-MART ONLINE", 48900, "USD", "posted", "2025-06-10T22:41:00Z"),
    ("T-5004", "C-4411", "City Parking", 1200, "USD", "pending", "2025-06-11T07:30:00Z"),
    ("T-5005", "C-7788", "京东商城", 129900, "CNY", "posted", "2025-06-07T13:05:00Z"),
    ("T-5006", "C-7788", "星巴克", 3800, "CNY", "posted", "2025-06-09T09:20:00Z"),
    ("T-5007", "C-5205", "携程旅行", 256000, "CNY", "posted", "2025-06-02T16:00:00Z"),
    ("T-5008", "C-5205", "携程旅行 退款", -56000, "CNY", "posted", "2025-06-04T10:00:00Z"),
    ("T-5009", "C-3300", "Gym Membership", 4999, "USD", "posted", "2025-06-01T06:00:00Z"),
    ("T-5010", "C-3300", "Unknown Merchant 8812", 21000, "USD", "posted", "2025-06-10T03:14:00Z"),
]

DISPUTES = [("D-1001", "T-5007", "charged twice for one booking", "open", "2025-06-05T11:00:00Z")]


def rows() -> dict[str, list[tuple]]:
    return {"cardholders": CARDHOLDERS, "cards": CARDS, "transactions": TRANSACTIONS, "disputes": DISPUTES}


def highlights(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    found = conn.execute(
        "SELECT c.id, c.status, c.last4, h.name, h.email FROM cards c JOIN cardholders h USING (email) ORDER BY c.id"
    )
    return [(r["id"], f"{r['status']}, ending {r['last4']}, {r['name']} <{r['email']}>") for r in found.fetchall()] + [
        ("transactions", "T-5003 (489.00 USD, disputable), T-5007 (already disputed: D-1001)")
    ]

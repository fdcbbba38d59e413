"""The billing desk's tables and seed: three plans, four accounts (one at its seat count, one on the free plan,
one with a Chinese name) and their last invoices, one still open."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_per_seat_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    max_seats INTEGER NOT NULL,
    features TEXT NOT NULL
);
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT NOT NULL REFERENCES plans (id),
    seats INTEGER NOT NULL CHECK (seats >= 1),
    seats_used INTEGER NOT NULL CHECK (seats_used <= seats),
    billing_email TEXT NOT NULL,
    plan_changed_at TEXT
);
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    plan TEXT NOT NULL,
    seats INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'void')),
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL
);
"""

PLANS = [
    ("free", "Free", 0, "USD", 3, "3 seats|community support"),
    ("team", "Team", 1200, "USD", 50, "up to 50 seats|shared inboxes|e-mail support"),
    ("business", "Business", 2500, "USD", 1000, "up to 1000 seats|SSO|audit log|priority support"),
]

ACCOUNTS = [
    ("ACME", "Acme Corp", "team", 10, 8, "billing@acme.example", None),
    ("GLOBEX", "Globex Corporation", "business", 120, 97, "ap@globex.example", None),
    ("LONGTENG", "龙腾科技", "team", 5, 5, "finance@longteng.example", None),
    ("INITECH", "Initech", "free", 3, 2, "peter@initech.example", None),
]

INVOICES = [
    ("INV-2025-0001", "ACME", "2025-04-01", "2025-04-30", "team", 10, 12000, "USD", "paid", "2025-04-01", "2025-04-15"),
    ("INV-2025-0002", "ACME", "2025-05-01", "2025-05-31", "team", 10, 12000, "USD", "paid", "2025-05-01", "2025-05-15"),
    ("INV-2025-0003", "GLOBEX", "2025-05-01", "2025-05-31", "business", 120, 300000, "USD", "paid",
     "2025-05-01", "2025-05-15"),
    ("INV-2025-0004", "LONGTENG", "2025-05-01", "2025-05-31", "team", 5, 6000, "USD", "paid",
     "2025-05-01", "2025-05-15"),
    ("INV-2025-0005", "ACME", "2025-06-01", "2025-06-30", "team", 10, 12000, "USD", "open", "2025-06-01", "2025-06-15"),
    ("INV-2025-0006", "LONGTENG", "2025-06-01", "2025-06-30", "team", 5, 6000, "USD", "open",
     "2025-06-01", "2025-06-15"),
]  # fmt: skip


def rows() -> dict[str, list[tuple]]:
    return {"plans": PLANS, "accounts": ACCOUNTS, "invoices": INVOICES}


def highlights(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    found = conn.execute("SELECT id, name, plan, seats, seats_used, billing_email FROM accounts ORDER BY id")
    return [
        (r["id"], f"{r['name']}, {r['plan']}, {r['seats_used']}/{r['seats']} seats used, {r['billing_email']}")
        for r in found.fetchall()
    ] + [("invoices", "INV-2025-0005 (open, ACME), INV-2025-0003 (paid, GLOBEX)")]

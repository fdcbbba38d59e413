"""The billing desk's rules: plans limit seats, seats never drop below the users who hold them."""

from __future__ import annotations

import sqlite3

from loopdesk.support.demo._db import DemoError
from loopdesk.support.demo._money import money
from loopdesk.support.demo._writes import now
from loopdesk.support.demo.saas.schemas import Account, Invoice, Plan


def _plan(row: sqlite3.Row) -> Plan:
    return Plan(
        id=row["id"],
        name=row["name"],
        price_per_seat=money(row["price_per_seat_cents"]),
        currency=row["currency"],
        max_seats=row["max_seats"],
        features=row["features"].split("|"),
    )


def list_plans(conn: sqlite3.Connection) -> list[Plan]:
    return [_plan(row) for row in conn.execute("SELECT * FROM plans ORDER BY price_per_seat_cents").fetchall()]


def _plan_row(conn: sqlite3.Connection, plan_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone()
    if row is None:
        raise DemoError(422, f"no plan {plan_id!r}")
    return row


def _account_row(conn: sqlite3.Connection, account_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT a.*, p.price_per_seat_cents, p.currency, p.max_seats FROM accounts a JOIN plans p ON p.id = a.plan"
        " WHERE a.id = ?",
        (account_id.strip().upper(),),
    ).fetchone()
    if row is None:
        raise DemoError(404, f"no account {account_id!r}; account ids look like ACME")
    return row


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        plan=row["plan"],
        seats=row["seats"],
        seats_used=row["seats_used"],
        max_seats=row["max_seats"],
        billing_email=row["billing_email"],
        monthly_price=money(row["seats"] * row["price_per_seat_cents"]),
        currency=row["currency"],
        plan_changed_at=row["plan_changed_at"],
    )


def get_account(conn: sqlite3.Connection, account_id: str) -> Account:
    return _account(_account_row(conn, account_id))


def find_accounts(conn: sqlite3.Connection, email: str) -> list[Account]:
    found = conn.execute("SELECT id FROM accounts WHERE billing_email = ? ORDER BY id", (email.strip().lower(),))
    ids = [row["id"] for row in found.fetchall()]
    if not ids:
        raise DemoError(404, f"no account is billed to {email!r}")
    return [get_account(conn, account_id) for account_id in ids]


def change_plan(conn: sqlite3.Connection, account_id: str, plan_id: str) -> Account:
    account = _account_row(conn, account_id)
    plan = _plan_row(conn, plan_id)
    if account["plan"] == plan["id"]:
        raise DemoError(409, f"account {account['id']} is already on the {plan['name']} plan")
    if account["seats_used"] > plan["max_seats"]:
        raise DemoError(
            409,
            f"account {account['id']} has {account['seats_used']} seats in use; the {plan['name']} plan allows "
            f"{plan['max_seats']}: users must be removed first",
        )
    conn.execute(
        "UPDATE accounts SET plan = ?, seats = MIN(seats, ?), plan_changed_at = ? WHERE id = ?",
        (plan["id"], plan["max_seats"], now(), account["id"]),
    )
    return get_account(conn, account["id"])


def set_seats(conn: sqlite3.Connection, account_id: str, seats: int) -> Account:
    account = _account_row(conn, account_id)
    if seats < account["seats_used"]:
        raise DemoError(
            409,
            f"account {account['id']} has {account['seats_used']} seats in use; seats cannot go below that "
            "until users are removed",
        )
    if seats > account["max_seats"]:
        raise DemoError(
            409, f"the {account['plan']} plan allows at most {account['max_seats']} seats; change the plan first"
        )
    conn.execute("UPDATE accounts SET seats = ? WHERE id = ?", (seats, account["id"]))
    return get_account(conn, account["id"])


def _invoice(row: sqlite3.Row) -> Invoice:
    return Invoice(**{**dict(row), "amount": money(row["amount_cents"])})


def list_invoices(conn: sqlite3.Connection, account_id: str) -> list[Invoice]:
    account = _account_row(conn, account_id)
    found = conn.execute("SELECT * FROM invoices WHERE account_id = ? ORDER BY issued_on DESC", (account["id"],))
    return [_invoice(row) for row in found.fetchall()]


def get_invoice(conn: sqlite3.Connection, invoice_id: str) -> Invoice:
    row = conn.execute("SELECT * FROM invoices WHERE id = ?", (invoice_id.strip().upper(),)).fetchone()
    if row is None:
        raise DemoError(404, f"no invoice {invoice_id!r}; invoice numbers look like INV-2025-0001")
    return _invoice(row)

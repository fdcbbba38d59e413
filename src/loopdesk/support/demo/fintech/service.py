"""The card desk's rules: freezing is a state a card is in or not; a transaction is disputed once, for its amount."""

from __future__ import annotations

import sqlite3

from loopdesk.support.demo._db import DemoError
from loopdesk.support.demo._money import money
from loopdesk.support.demo._writes import now
from loopdesk.support.demo.fintech.schemas import Card, Dispute, Transaction

_CARD = "SELECT c.*, h.name FROM cards c JOIN cardholders h USING (email)"
_DISPUTE = (
    "SELECT d.*, t.card_id, t.merchant, t.amount_cents, t.currency FROM disputes d"
    " JOIN transactions t ON t.id = d.transaction_id"
)


def _card(row: sqlite3.Row) -> Card:
    return Card(
        id=row["id"],
        email=row["email"],
        cardholder_name=row["name"],
        brand=row["brand"],
        last4=row["last4"],
        status=row["status"],
        limit=money(row["limit_cents"]),
        currency=row["currency"],
        frozen_at=row["frozen_at"],
        frozen_reason=row["frozen_reason"],
    )


def _card_row(conn: sqlite3.Connection, card_id: str) -> sqlite3.Row:
    row = conn.execute(f"{_CARD} WHERE c.id = ?", (card_id.strip().upper(),)).fetchone()  # noqa: S608
    if row is None:
        raise DemoError(404, f"no card {card_id!r}; card ids look like C-4411")
    return row


def get_card(conn: sqlite3.Connection, card_id: str) -> Card:
    return _card(_card_row(conn, card_id))


def list_cards(conn: sqlite3.Connection, email: str) -> list[Card]:
    address = email.strip().lower()
    if conn.execute("SELECT 1 FROM cardholders WHERE email = ?", (address,)).fetchone() is None:
        raise DemoError(404, f"no cardholder with the e-mail address {email!r}")
    return [_card(row) for row in conn.execute(f"{_CARD} WHERE c.email = ? ORDER BY c.id", (address,)).fetchall()]  # noqa: S608


def freeze_card(conn: sqlite3.Connection, card_id: str, reason: str | None) -> Card:
    card = _card_row(conn, card_id)
    if card["status"] == "frozen":
        raise DemoError(409, f"card {card['id']} is already frozen (since {card['frozen_at']})")
    conn.execute(
        "UPDATE cards SET status = 'frozen', frozen_at = ?, frozen_reason = ? WHERE id = ?",
        (now(), reason, card["id"]),
    )
    return get_card(conn, card["id"])


def unfreeze_card(conn: sqlite3.Connection, card_id: str) -> Card:
    card = _card_row(conn, card_id)
    if card["status"] != "frozen":
        raise DemoError(409, f"card {card['id']} is not frozen")
    conn.execute(
        "UPDATE cards SET status = 'active', frozen_at = NULL, frozen_reason = NULL WHERE id = ?", (card["id"],)
    )
    return get_card(conn, card["id"])


def list_transactions(conn: sqlite3.Connection, card_id: str) -> list[Transaction]:
    card = _card_row(conn, card_id)
    found = conn.execute(
        "SELECT t.*, d.id AS dispute_id FROM transactions t LEFT JOIN disputes d ON d.transaction_id = t.id"
        " WHERE t.card_id = ? ORDER BY t.at DESC",
        (card["id"],),
    )
    return [Transaction(**{**dict(row), "amount": money(row["amount_cents"])}) for row in found.fetchall()]


def _dispute(row: sqlite3.Row) -> Dispute:
    return Dispute(**{**dict(row), "amount": money(row["amount_cents"])})


def get_dispute(conn: sqlite3.Connection, dispute_id: str) -> Dispute:
    row = conn.execute(f"{_DISPUTE} WHERE d.id = ?", (dispute_id.strip().upper(),)).fetchone()  # noqa: S608
    if row is None:
        raise DemoError(404, f"no dispute {dispute_id!r}; dispute ids look like D-1001")
    return _dispute(row)


def create_dispute(conn: sqlite3.Connection, transaction_id: str, reason: str) -> Dispute:
    txn = conn.execute("SELECT * FROM transactions WHERE id = ?", (transaction_id.strip().upper(),)).fetchone()
    if txn is None:
        raise DemoError(404, f"no transaction {transaction_id!r}; transaction ids look like T-5001")
    already = conn.execute("SELECT id FROM disputes WHERE transaction_id = ?", (txn["id"],)).fetchone()
    if already is not None:
        raise DemoError(409, f"transaction {txn['id']} is already disputed ({already['id']}); it can be disputed once")
    if txn["amount_cents"] <= 0:
        raise DemoError(422, f"transaction {txn['id']} is a credit to the card; only charges can be disputed")
    if txn["status"] == "pending":
        raise DemoError(422, f"transaction {txn['id']} is still pending; it can be disputed once it has posted")
    count = conn.execute("SELECT COUNT(*) FROM disputes").fetchone()[0]
    dispute_id = f"D-{1001 + count}"
    conn.execute(
        "INSERT INTO disputes (id, transaction_id, reason, status, created_at) VALUES (?, ?, ?, 'open', ?)",
        (dispute_id, txn["id"], reason, now()),
    )
    return get_dispute(conn, dispute_id)

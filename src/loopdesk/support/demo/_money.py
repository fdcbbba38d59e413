"""Money is stored in cents and shown as a decimal number with two places."""

from __future__ import annotations

from loopdesk.support.demo._db import DemoError


def money(cents: int) -> float:
    return round(cents / 100, 2)


def cents(amount: float, field: str = "amount") -> int:
    value = round(amount * 100)
    if abs(value - amount * 100) > 1e-6:
        raise DemoError(422, f"{field} {amount} has more than two decimal places")
    return value


def text(amount_cents: int, currency: str) -> str:
    return f"{amount_cents / 100:.2f} {currency}"

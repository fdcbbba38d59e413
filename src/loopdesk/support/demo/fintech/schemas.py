"""The card desk's request and response models; their descriptions become the agent's tool documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Card(BaseModel):
    id: str = Field(description="Card id, e.g. C-4411.")
    email: str = Field(description="E-mail address of the cardholder.")
    cardholder_name: str = Field(description="Name of the cardholder.")
    brand: str = Field(description="Card network, e.g. Visa.")
    last4: str = Field(description="Last four digits of the card number.")
    status: Literal["active", "frozen"] = Field(description="active, or frozen (every payment is declined).")
    limit: float = Field(description="Monthly spending limit.")
    currency: str = Field(description="ISO 4217 currency code.")
    frozen_at: str | None = Field(description="When the card was frozen (ISO 8601, UTC), while it is.")
    frozen_reason: str | None = Field(description="Why the card was frozen, while it is.")


class FreezeIn(BaseModel):
    reason: str | None = Field(None, max_length=500, description="Why the card is frozen, e.g. 'card lost'.")


class Transaction(BaseModel):
    id: str = Field(description="Transaction id, e.g. T-5001.")
    card_id: str = Field(description="Card charged.")
    merchant: str = Field(description="Merchant name as it appears on the statement.")
    amount: float = Field(description="Amount; negative for a credit (a merchant's refund).")
    currency: str = Field(description="ISO 4217 currency code.")
    status: Literal["pending", "posted"] = Field(description="pending (not settled yet) or posted.")
    at: str = Field(description="When the transaction happened (ISO 8601, UTC).")
    dispute_id: str | None = Field(description="The dispute opened on this transaction, if any.")


class Dispute(BaseModel):
    id: str = Field(description="Dispute id, e.g. D-1001.")
    transaction_id: str = Field(description="Transaction disputed.")
    card_id: str = Field(description="Card the transaction was charged to.")
    merchant: str = Field(description="Merchant of the disputed transaction.")
    amount: float = Field(description="Amount disputed: the transaction's amount.")
    currency: str = Field(description="ISO 4217 currency code.")
    reason: str = Field(description="The cardholder's reason.")
    status: Literal["open", "won", "lost"] = Field(description="open (under review), won or lost.")
    created_at: str = Field(description="When the dispute was opened (ISO 8601, UTC).")


class DisputeIn(BaseModel):
    transaction_id: str = Field(min_length=1, max_length=32, description="The transaction to dispute, e.g. T-5001.")
    reason: str = Field(
        min_length=1, max_length=1000, description="Why the cardholder disputes it, e.g. 'not recognised'."
    )

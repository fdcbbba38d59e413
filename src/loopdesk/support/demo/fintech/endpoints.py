"""The card desk's HTTP operations. Their ids, summaries and descriptions are what an imported agent reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from loopdesk.support.demo._app import Conn, IdempotencyKey, errors
from loopdesk.support.demo._writes import run_write
from loopdesk.support.demo.fintech import service
from loopdesk.support.demo.fintech.schemas import Card, Dispute, DisputeIn, FreezeIn, Transaction

router = APIRouter()

CardId = Annotated[str, Path(max_length=32, description="Card id, e.g. C-4411.")]


@router.get(
    "/cards/{card_id}",
    operation_id="getCard",
    summary="Look up a card: status (active or frozen), last four digits, limit.",
    response_model=Card,
    responses=errors(404),
)
def get_card(conn: Conn, card_id: CardId) -> Card:
    """Answers whether a card is active or frozen (and why), its brand, last four digits and monthly limit."""
    return service.get_card(conn, card_id)


@router.get(
    "/cards",
    operation_id="listCards",
    summary="List a cardholder's cards by their e-mail address.",
    response_model=list[Card],
    responses=errors(404),
)
def list_cards(
    conn: Conn, email: Annotated[str, Query(max_length=254, description="The cardholder's e-mail address.")]
) -> list[Card]:
    """Use it to find the card id when the customer names only the last digits. 404 when no cardholder matches."""
    return service.list_cards(conn, email)


@router.post(
    "/cards/{card_id}/freeze",
    operation_id="freezeCard",
    summary="Freeze a card so that every new payment is declined.",
    response_model=Card,
    responses=errors(404, 409),
)
def freeze_card(conn: Conn, card_id: CardId, body: FreezeIn | None = None, key: IdempotencyKey = None) -> JSONResponse:
    """For a lost or stolen card, or a payment the cardholder does not recognise; it can be unfrozen later.
    A card already frozen answers 409."""
    reason = body.reason if body else None
    args = {"card_id": card_id, "reason": reason}
    return run_write(conn, "freezeCard", key, args, lambda c: service.freeze_card(c, card_id, reason))


@router.post(
    "/cards/{card_id}/unfreeze",
    operation_id="unfreezeCard",
    summary="Unfreeze a frozen card so that it can pay again.",
    response_model=Card,
    responses=errors(404, 409),
)
def unfreeze_card(conn: Conn, card_id: CardId, key: IdempotencyKey = None) -> JSONResponse:
    """Only a frozen card can be unfrozen; an active one answers 409."""
    return run_write(conn, "unfreezeCard", key, {"card_id": card_id}, lambda c: service.unfreeze_card(c, card_id))


@router.get(
    "/cards/{card_id}/transactions",
    operation_id="listTransactions",
    summary="List a card's transactions, newest first.",
    response_model=list[Transaction],
    responses=errors(404),
)
def list_transactions(conn: Conn, card_id: CardId) -> list[Transaction]:
    """Each transaction's merchant, amount (negative for a credit), status and any dispute opened on it."""
    return service.list_transactions(conn, card_id)


@router.post(
    "/disputes",
    operation_id="createDispute",
    summary="Open a dispute on a card transaction the cardholder contests.",
    status_code=201,
    response_model=Dispute,
    responses=errors(404, 409, 422),
)
def create_dispute(conn: Conn, body: DisputeIn, key: IdempotencyKey = None) -> JSONResponse:
    """The amount disputed is the transaction's. A transaction can be disputed once (409 after that); a pending
    transaction or a credit answers 422."""
    return run_write(
        conn, "createDispute", key, body.model_dump(),
        lambda c: service.create_dispute(c, body.transaction_id, body.reason), status=201,
    )  # fmt: skip


@router.get(
    "/disputes/{dispute_id}",
    operation_id="getDispute",
    summary="Look up a dispute and its status.",
    response_model=Dispute,
    responses=errors(404),
)
def get_dispute(
    conn: Conn, dispute_id: Annotated[str, Path(max_length=32, description="Dispute id, e.g. D-1001.")]
) -> Dispute:
    """The disputed transaction, amount, reason and status (open, won or lost)."""
    return service.get_dispute(conn, dispute_id)

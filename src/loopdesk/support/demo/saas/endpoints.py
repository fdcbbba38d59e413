"""The billing desk's HTTP operations. Their ids, summaries and descriptions are what an imported agent reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from loopdesk.support.demo._app import Conn, IdempotencyKey, errors
from loopdesk.support.demo._writes import run_write
from loopdesk.support.demo.saas import service
from loopdesk.support.demo.saas.schemas import Account, Invoice, Plan, PlanChange, SeatsChange

router = APIRouter()

AccountId = Annotated[str, Path(max_length=32, description="Account id, e.g. ACME.")]


@router.get(
    "/accounts/{account_id}",
    operation_id="getAccount",
    summary="Look up an account: plan, seats paid for and in use, monthly price.",
    response_model=Account,
    responses=errors(404),
)
def get_account(conn: Conn, account_id: AccountId) -> Account:
    """Answers which plan a company is on, how many seats it pays for and uses, and what it pays per month."""
    return service.get_account(conn, account_id)


@router.get(
    "/accounts",
    operation_id="listAccounts",
    summary="Find the accounts billed to an e-mail address.",
    response_model=list[Account],
    responses=errors(404),
)
def list_accounts(
    conn: Conn, email: Annotated[str, Query(max_length=254, description="The billing e-mail address.")]
) -> list[Account]:
    """Use it when the customer does not know their account id. Answers 404 when no account is billed there."""
    return service.find_accounts(conn, email)


@router.get(
    "/plans",
    operation_id="listPlans",
    summary="List the plans with their seat prices and seat limits.",
    response_model=list[Plan],
)
def list_plans(conn: Conn) -> list[Plan]:
    """Every plan, cheapest first: monthly price per seat, the most seats it allows and what it includes."""
    return service.list_plans(conn)


@router.post(
    "/accounts/{account_id}/plan",
    operation_id="changePlan",
    summary="Move an account to another plan.",
    response_model=Account,
    responses=errors(404, 409, 422),
)
def change_plan(conn: Conn, account_id: AccountId, body: PlanChange, key: IdempotencyKey = None) -> JSONResponse:
    """Takes effect at once; the next invoice bills the new plan. Answers 409 when the account is already on that
    plan or uses more seats than the plan allows; seats above the new plan's limit are reduced to it."""
    args = {"account_id": account_id, "plan": body.plan}
    return run_write(conn, "changePlan", key, args, lambda c: service.change_plan(c, account_id, body.plan))


@router.post(
    "/accounts/{account_id}/seats",
    operation_id="setSeats",
    summary="Set how many seats an account pays for.",
    response_model=Account,
    responses=errors(404, 409),
)
def set_seats(conn: Conn, account_id: AccountId, body: SeatsChange, key: IdempotencyKey = None) -> JSONResponse:
    """Never below the seats in use (seats_used) and never above the plan's limit: either answers 409 saying why."""
    args = {"account_id": account_id, "seats": body.seats}
    return run_write(conn, "setSeats", key, args, lambda c: service.set_seats(c, account_id, body.seats))


@router.get(
    "/accounts/{account_id}/invoices",
    operation_id="listInvoices",
    summary="List an account's invoices, newest first.",
    response_model=list[Invoice],
    responses=errors(404),
)
def list_invoices(conn: Conn, account_id: AccountId) -> list[Invoice]:
    """Every invoice of the account with its period, amount and status (open, paid or void)."""
    return service.list_invoices(conn, account_id)


@router.get(
    "/invoices/{invoice_id}",
    operation_id="getInvoice",
    summary="Look up one invoice by its number.",
    response_model=Invoice,
    responses=errors(404),
)
def get_invoice(
    conn: Conn, invoice_id: Annotated[str, Path(max_length=32, description="Invoice number, e.g. INV-2025-0001.")]
) -> Invoice:
    """The invoice's period, plan, seats, amount, status and due date."""
    return service.get_invoice(conn, invoice_id)

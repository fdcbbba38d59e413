"""The SaaS billing desk's request and response models; their descriptions become the agent's tool documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PlanId = Literal["free", "team", "business"]


class Plan(BaseModel):
    id: PlanId = Field(description="Plan id: free, team or business.")
    name: str = Field(description="Plan name as shown to customers.")
    price_per_seat: float = Field(description="Monthly price of one seat.")
    currency: str = Field(description="ISO 4217 currency code.")
    max_seats: int = Field(description="Most seats an account on this plan can have.")
    features: list[str] = Field(description="What the plan includes.")


class Account(BaseModel):
    id: str = Field(description="Account id, e.g. ACME.")
    name: str = Field(description="Company name.")
    plan: PlanId = Field(description="Current plan id.")
    seats: int = Field(description="Seats paid for.")
    seats_used: int = Field(description="Seats taken by active users; seats can never go below this.")
    max_seats: int = Field(description="Most seats the current plan allows.")
    billing_email: str = Field(description="Where invoices are sent.")
    monthly_price: float = Field(description="What the account pays per month: seats times the plan's seat price.")
    currency: str = Field(description="ISO 4217 currency code.")
    plan_changed_at: str | None = Field(description="When the plan last changed (ISO 8601, UTC), if it did.")


class PlanChange(BaseModel):
    plan: PlanId = Field(description="The plan to move to: free, team or business.")


class SeatsChange(BaseModel):
    seats: int = Field(ge=1, le=100_000, description="The new number of seats; at least seats_used.")


class Invoice(BaseModel):
    id: str = Field(description="Invoice number, e.g. INV-2025-0001.")
    account_id: str = Field(description="Account billed.")
    period_start: str = Field(description="First day billed (YYYY-MM-DD).")
    period_end: str = Field(description="Last day billed (YYYY-MM-DD).")
    plan: str = Field(description="Plan billed.")
    seats: int = Field(description="Seats billed.")
    amount: float = Field(description="Invoice total.")
    currency: str = Field(description="ISO 4217 currency code.")
    status: Literal["open", "paid", "void"] = Field(description="open (awaiting payment), paid or void.")
    issued_on: str = Field(description="Date issued (YYYY-MM-DD).")
    due_on: str = Field(description="Payment due date (YYYY-MM-DD).")

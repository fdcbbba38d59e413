"""The shop's request and response models; their field descriptions become the agent's tool documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

OrderStatus = Literal["pending", "paid", "shipped", "delivered", "cancelled"]


class OrderItem(BaseModel):
    sku: str = Field(description="Stock-keeping unit of the product.")
    name: str = Field(description="Product name as shown to the customer.")
    quantity: int = Field(description="Units ordered.")
    unit_price: float = Field(description="Price of one unit, in the order's currency.")


class Order(BaseModel):
    id: str = Field(description="Order number, e.g. A1001.")
    email: str = Field(description="E-mail address of the customer who placed the order.")
    customer_name: str = Field(description="Name of the customer.")
    status: OrderStatus = Field(
        description="pending (not paid yet), paid (not shipped yet), shipped, delivered or cancelled."
    )
    items: list[OrderItem] = Field(description="What was ordered.")
    subtotal: float = Field(description="Sum of the items before any discount.")
    discount: float = Field(description="Discount from the applied coupon (0 if none).")
    total: float = Field(description="What the customer pays: subtotal minus discount.")
    paid: float = Field(description="Amount charged to the customer (0 while pending).")
    refunded: float = Field(description="Sum of the refunds issued so far.")
    refundable: float = Field(description="Amount that can still be refunded: paid minus refunded.")
    currency: str = Field(description="ISO 4217 currency code, e.g. USD.")
    coupon_code: str | None = Field(description="Coupon applied to the order, if any.")
    carrier: str | None = Field(description="Shipping carrier, once shipped.")
    tracking_number: str | None = Field(description="Carrier tracking number, once shipped.")
    estimated_delivery: str | None = Field(description="Expected delivery date (YYYY-MM-DD), or the delivery date.")
    placed_at: str = Field(description="When the order was placed (ISO 8601, UTC).")
    cancelled_at: str | None = Field(description="When the order was cancelled, if it was.")
    cancel_reason: str | None = Field(description="Why the order was cancelled, if it was.")


class CancelIn(BaseModel):
    reason: str | None = Field(None, max_length=500, description="Why the customer cancels (kept with the order).")


class Refund(BaseModel):
    id: str = Field(description="Refund id, e.g. R-1001.")
    order_id: str = Field(description="Order the refund belongs to.")
    amount: float = Field(description="Amount refunded, in the order's currency.")
    currency: str = Field(description="ISO 4217 currency code.")
    reason: str = Field(description="Why the refund was issued.")
    created_at: str = Field(description="When the refund was issued (ISO 8601, UTC).")


class RefundIn(BaseModel):
    amount: float = Field(gt=0, description="Amount to refund in the order's currency; at most the order's refundable.")
    reason: str = Field(min_length=1, max_length=500, description="Why the refund is issued.")


class CancelResult(BaseModel):
    order: Order = Field(description="The order, now cancelled.")
    refund: Refund | None = Field(description="The refund of what was paid, when the order had been paid.")


class Coupon(BaseModel):
    code: str = Field(description="Coupon code, e.g. WELCOME10.")
    description: str = Field(description="What the coupon gives.")
    percent_off: int | None = Field(description="Percentage off the subtotal, for a percentage coupon.")
    amount_off: float | None = Field(description="Fixed amount off, for an amount coupon.")
    min_subtotal: float = Field(description="Smallest order subtotal the coupon applies to.")
    expires_on: str = Field(description="Last day the coupon can be used (YYYY-MM-DD).")
    expired: bool = Field(description="True when the coupon can no longer be used.")


class CouponIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, description="The coupon code the customer has.")

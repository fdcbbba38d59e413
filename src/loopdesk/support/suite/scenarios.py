"""The task suite's scripted customers: what each one says and does, and what the demo backend's database must
hold afterwards (in the spirit of tau2-bench: a scenario passes by the state it leaves, not by the words of a reply).

Every scenario starts from the backend's seed (`POST /_reset`), on a fresh thread, as the template's customer.
`writes` lists every write operation the backend must have run, with how many times (its `audit` table): any
write not listed must not have happened. `checks` are SQL queries on the backend's own database with the rows
they must return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Say:
    """The customer sends a message and waits for the turn to finish."""

    text: str


@dataclass(frozen=True)
class Decide:
    """Someone decides the approval the conversation waits for. `allowed`: whether the server must accept it (a
    customer approving a write that only staff may approve must be refused; a decision on an approval that
    is no longer pending too)."""

    decision: Literal["approve", "reject"]
    by: Literal["staff", "customer"] = "staff"
    allowed: bool = True


@dataclass(frozen=True)
class Fault:
    """The backend answers the next call of an operation with an error, without running it."""

    operation_id: str
    status: int = 500


@dataclass(frozen=True)
class Check:
    sql: str
    args: tuple = ()
    rows: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    name: str
    template: Literal["ecommerce", "saas", "fintech"]
    steps: tuple[Say | Decide | Fault, ...]
    writes: dict[str, int] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    escalated: bool = False  # a person must (or must not) have been handed the conversation
    approvals: int | None = None  # approvals the conversation asked for (None: not checked)
    answer_holds: tuple[str, ...] = ()  # a read's facts the reply must carry (the backend's values)
    tools_called: bool | None = None  # False: the turn must not call any tool (clarifications, out of scope)
    must_call: tuple[str, ...] = ()  # tools the agents must have called (a read that fails is still tried)
    said: tuple[str, ...] = ()  # words a reply must hold where the outcome is a reply (a failure reported)


def _order(order_id: str, status: str) -> Check:
    return Check("SELECT id, status FROM orders WHERE id = ?", (order_id,), [(order_id, status)])


def _account(account_id: str, plan: str, seats: int) -> Check:
    return Check("SELECT id, plan, seats FROM accounts WHERE id = ?", (account_id,), [(account_id, plan, seats)])


def _card(card_id: str, status: str) -> Check:
    return Check("SELECT id, status FROM cards WHERE id = ?", (card_id,), [(card_id, status)])


SCENARIOS: tuple[Scenario, ...] = (
    # ------------------------------------------------------------------------------------------ e-commerce
    Scenario(
        "order status (en)",
        "ecommerce",
        (Say("Where is my order A1001?"),),
        checks=(_order("A1001", "shipped"),),
        answer_holds=("1Z999AA10123456784",),
    ),
    Scenario(
        "order status (zh)",
        "ecommerce",
        (Say("我的订单A1005到哪了？"),),
        checks=(_order("A1005", "shipped"),),
        answer_holds=("SF1234567890123",),
    ),
    Scenario(
        "cancel, approved by staff",
        "ecommerce",
        (Say("Please cancel my order A1002"), Decide("approve")),
        writes={"cancelOrder": 1},
        checks=(_order("A1002", "cancelled"),),
        approvals=1,
    ),
    Scenario(
        "cancel (zh), approved by staff",
        "ecommerce",
        (Say("请帮我取消订单A1006"), Decide("approve")),
        writes={"cancelOrder": 1},
        checks=(_order("A1006", "cancelled"),),
        approvals=1,
    ),
    Scenario(
        "cancel, rejected by staff",
        "ecommerce",
        (Say("Please cancel my order A1002"), Decide("reject")),
        checks=(_order("A1002", "pending"),),
        approvals=1,
    ),
    Scenario(
        "a customer cannot approve their own cancel",
        "ecommerce",
        (Say("Please cancel my order A1002"), Decide("approve", by="customer", allowed=False), Decide("approve")),
        writes={"cancelOrder": 1},
        checks=(_order("A1002", "cancelled"),),
    ),
    Scenario(
        "the customer withdraws the cancel before staff decide",
        "ecommerce",
        (Say("Please cancel my order A1002"), Decide("reject", by="customer"), Decide("approve", allowed=False)),
        checks=(_order("A1002", "pending"),),
    ),
    Scenario(
        "the customer changes their mind mid-approval",
        "ecommerce",
        (
            Say("Please cancel my order A1002"),
            Say("Actually, where is my order A1001?"),
            Decide("approve", allowed=False),
        ),
        checks=(_order("A1002", "pending"),),
        answer_holds=("1Z999AA10123456784",),
    ),
    Scenario(
        "refund within the policy",
        "ecommerce",
        (Say("Please refund 50 for order A1007 because the colour was wrong"), Decide("approve")),
        writes={"createRefund": 1},
        checks=(
            Check(
                "SELECT order_id, amount_cents FROM refunds WHERE order_id = ? ORDER BY amount_cents",
                ("A1007",),
                [("A1007", 2000), ("A1007", 5000)],
            ),
        ),
    ),
    Scenario(
        "refund beyond the policy is refused and escalated",
        "ecommerce",
        (Say("I want a refund of 899 for order A1003 because it arrived broken"),),
        checks=(Check("SELECT id FROM refunds WHERE order_id = 'A1003'"), _order("A1003", "delivered")),
        escalated=True,
        approvals=0,
    ),
    Scenario(
        "a coupon applied after approval",
        "ecommerce",
        (Say("Please apply coupon WELCOME10 to order A1004"), Decide("approve")),
        writes={"applyCoupon": 1},
        checks=(Check("SELECT id, coupon_code FROM orders WHERE id = 'A1004'", (), [("A1004", "WELCOME10")]),),
    ),
    Scenario(
        "an ambiguous request gets one question",
        "ecommerce",
        (Say("I have a problem with my order"),),
        tools_called=False,
        approvals=0,
    ),
    Scenario(
        "two intents in one message, in order",
        "ecommerce",
        (Say("Where is my order A1001? Also please cancel my order A1002"), Decide("approve")),
        writes={"cancelOrder": 1},
        checks=(_order("A1001", "shipped"), _order("A1002", "cancelled")),
        answer_holds=("1Z999AA10123456784",),
    ),
    Scenario(
        "an out-of-scope question is declined",
        "ecommerce",
        (Say("What's the capital of France?"),),
        tools_called=False,
        approvals=0,
    ),
    Scenario(
        "asking for a person hands the conversation over",
        "ecommerce",
        (Say("I want to talk to a human agent"),),
        escalated=True,
        tools_called=False,
    ),
    Scenario(
        "the backend fails the approved cancel: nothing changes, people are told",
        "ecommerce",
        (Fault("cancelOrder"), Say("Please cancel my order A1002"), Decide("approve")),
        checks=(_order("A1002", "pending"),),
        escalated=True,
    ),
    # ------------------------------------------------------------------------------------------------ SaaS
    Scenario(
        "plan change, approved",
        "saas",
        (Say("Please upgrade account ACME to the business plan"), Decide("approve")),
        writes={"changePlan": 1},
        checks=(_account("ACME", "business", 10),),
    ),
    Scenario(
        "seats changed, approved",
        "saas",
        (Say("Please set the seats of account ACME to 12"), Decide("approve")),
        writes={"setSeats": 1},
        checks=(_account("ACME", "team", 12),),
    ),
    Scenario(
        "seats beyond the limit are refused and escalated",
        "saas",
        (Say("Please set the seats of account ACME to 800"),),
        checks=(_account("ACME", "team", 10),),
        escalated=True,
        approvals=0,
    ),
    Scenario(
        "plan change, rejected by staff",
        "saas",
        (Say("Please downgrade account INITECH to the team plan"), Decide("reject")),
        checks=(_account("INITECH", "free", 3),),
    ),
    Scenario(
        "invoices are read from the backend",
        "saas",
        (Say("Show me invoice INV-2025-0005"),),
        answer_holds=("open",),
    ),
    Scenario(
        "an out-of-scope question (saas)",
        "saas",
        (Say("Can you recommend a good pizza place nearby?"),),
        tools_called=False,
    ),
    # --------------------------------------------------------------------------------------------- fintech
    Scenario(
        "a lost card is frozen at once (auto policy)",
        "fintech",
        (Say("I lost my card C-4411, please freeze it"),),
        writes={"freezeCard": 1},
        checks=(_card("C-4411", "frozen"),),
        approvals=0,
    ),
    Scenario(
        "a lost card (zh) is frozen at once",
        "fintech",
        (Say("我的卡C-7788丢了，请帮我冻结"),),
        writes={"freezeCard": 1},
        checks=(_card("C-7788", "frozen"),),
    ),
    Scenario(
        "unfreeze waits for staff",
        "fintech",
        (Say("Please unfreeze my card C-4412"), Decide("approve")),
        writes={"unfreezeCard": 1},
        checks=(_card("C-4412", "active"),),
        approvals=1,
    ),
    Scenario(
        "a dispute is opened after approval",
        "fintech",
        (Say("I want to dispute transaction T-5003 because I never made this purchase"), Decide("approve")),
        writes={"createDispute": 1},
        checks=(
            Check(
                "SELECT transaction_id, status FROM disputes WHERE transaction_id = ?",
                ("T-5003",),
                [("T-5003", "open")],
            ),
        ),
    ),
    Scenario(
        "the backend fails a read: no write, no made-up answer",
        "fintech",
        (Fault("getCard"), Say("What is the status of my card C-3300?")),
        checks=(_card("C-3300", "active"),),
        must_call=("getCard",),
        said=("failed",),
    ),
)

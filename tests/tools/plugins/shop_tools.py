"""A plugin folder's file, as a team would write one: tools for a shop, with declared side effects."""

from __future__ import annotations

from langchain_core.tools import ToolException

from loopdesk.tools.python import current_call, plugin_tool

# What ran, in this process (tests read it to count executions).
EXECUTED: list[dict] = []


@plugin_tool(side_effect="read")
def lookup_order(order_id: str) -> dict:
    """Look up an order by its id (ORD-1234) and return its status and amount."""
    if not order_id.startswith("ORD-"):
        raise ToolException(f"no order {order_id!r}")
    return {"order_id": order_id, "status": "delivered", "amount": 42.5}


@plugin_tool(side_effect="write")
def refund_order(order_id: str, amount: float, reason: str = "") -> str:
    """Refund an amount of an order to the customer."""
    call = current_call()
    EXECUTED.append({"order_id": order_id, "amount": amount, "key": call.idempotency_key if call else None})
    return f"refunded {amount:g} for {order_id}"


@plugin_tool(side_effect="destructive")
def delete_account(email: str) -> str:
    """Delete a customer's account for good."""
    EXECUTED.append({"deleted": email})
    return f"deleted {email}"


# 5 s: the limit counts the child's start, which takes seconds on a busy 2-core machine
@plugin_tool(side_effect="read", isolation="subprocess", timeout_seconds=5, memory_mb=200)
def crunch(kind: str) -> str:
    """Run in a limited subprocess: `ok`, `sleep` (longer than allowed) or `hog` (more memory than allowed)."""
    if kind == "sleep":
        import time

        time.sleep(30)
    if kind == "hog":
        hog = bytearray(1024 * 1024 * 1024)
        return str(len(hog))
    if kind == "fail":
        raise ToolException("asked to fail")
    import os

    return f"ok from pid {os.getpid()}"

"""The e-commerce demo backend over HTTP: orders are looked up, cancelled, refunded and discounted only as its
rules allow, writes happen once per Idempotency-Key, and injected faults answer without acting."""

from __future__ import annotations

from tests.support.demo.conftest import audited


async def test_an_order_is_found_by_its_number_or_by_the_customers_email(demo):
    shop = await demo("ecommerce")
    order = (await shop.get("/orders/a1001")).json()
    assert (order["id"], order["status"], order["carrier"], order["tracking_number"]) == (
        "A1001", "shipped", "UPS", "1Z999AA10123456784"
    )  # fmt: skip
    assert order["total"] == 159.0 and order["items"][1] == {
        "sku": "CB-USB-C", "name": "USB-C cable (1 m)", "quantity": 2, "unit_price": 15.0
    }  # fmt: skip
    orders = (await shop.get("/orders", params={"email": "Alice@Example.com"})).json()
    assert [o["id"] for o in orders] == ["A1002", "A1001"]
    assert (await shop.get("/orders/A1003")).json()["customer_name"] == "张伟"

    missing = await shop.get("/orders/A9999")
    assert missing.status_code == 404 and "A9999" in missing.json()["detail"]
    nobody = await shop.get("/orders", params={"email": "nobody@example.com"})
    assert nobody.status_code == 404 and "nobody@example.com" in nobody.json()["detail"]


async def test_a_pending_order_is_cancelled_and_a_paid_one_refunded_in_full(demo):
    shop = await demo("ecommerce")
    pending = await shop.post("/orders/A1002/cancel", json={"reason": "ordered twice"})
    assert pending.status_code == 200 and pending.json()["refund"] is None
    assert pending.json()["order"]["status"] == "cancelled"
    assert pending.json()["order"]["cancel_reason"] == "ordered twice"

    paid = (await shop.post("/orders/A1004/cancel")).json()
    assert paid["refund"]["amount"] == 89.0 and paid["refund"]["order_id"] == "A1004"
    order = (await shop.get("/orders/A1004")).json()
    assert (order["status"], order["refunded"], order["refundable"]) == ("cancelled", 89.0, 0.0)
    assert [r["amount"] for r in (await shop.get("/orders/A1004/refunds")).json()] == [89.0]


async def test_a_shipped_delivered_or_cancelled_order_cannot_be_cancelled(demo):
    shop = await demo("ecommerce")
    shipped = await shop.post("/orders/A1001/cancel", json={})
    assert shipped.status_code == 409
    assert "shipped" in shipped.json()["detail"] and "1Z999AA10123456784" in shipped.json()["detail"]
    assert (await shop.get("/orders/A1001")).json()["status"] == "shipped"

    delivered = await shop.post("/orders/A1003/cancel")
    assert delivered.status_code == 409 and "delivered" in delivered.json()["detail"]

    assert (await shop.post("/orders/A1002/cancel")).status_code == 200
    again = await shop.post("/orders/A1002/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert (await shop.post("/orders/A404/cancel")).status_code == 404


async def test_a_refund_is_limited_to_what_was_paid_less_earlier_refunds(demo):
    shop = await demo("ecommerce")
    over = await shop.post("/orders/A1003/refunds", json={"amount": 950, "reason": "broken screen"})
    assert over.status_code == 422
    assert "950.00 USD" in over.json()["detail"] and "899.00 USD" in over.json()["detail"]
    assert (await shop.get("/orders/A1003/refunds")).json() == []

    full = await shop.post("/orders/A1003/refunds", json={"amount": 899.0, "reason": "broken screen"})
    assert full.status_code == 201
    assert {k: full.json()[k] for k in ("order_id", "amount", "currency", "reason")} == {
        "order_id": "A1003", "amount": 899.0, "currency": "USD", "reason": "broken screen"
    }  # fmt: skip
    assert (await shop.post("/orders/A1003/refunds", json={"amount": 0.01, "reason": "x"})).status_code == 422

    # A1007 paid 120.00 and has 20.00 refunded already.
    assert (await shop.post("/orders/A1007/refunds", json={"amount": 100.01, "reason": "x"})).status_code == 422
    assert (await shop.post("/orders/A1007/refunds", json={"amount": 100, "reason": "x"})).status_code == 201
    assert (await shop.get("/orders/A1007")).json()["refundable"] == 0.0

    for order_id, body in [
        ("A1002", {"amount": 10, "reason": "pending: nothing paid"}),
        ("A1001", {"amount": 0, "reason": "not positive"}),
        ("A1001", {"amount": 1.005, "reason": "three decimals"}),
        ("A1001", {"amount": 5}),
    ]:
        refused = await shop.post(f"/orders/{order_id}/refunds", json=body)
        assert refused.status_code == 422 and isinstance(refused.json()["detail"], str), (body, refused.text)
    assert (await shop.get("/orders/A1001")).json()["refunded"] == 0.0


async def test_a_coupon_applies_once_before_shipping_unless_expired_or_below_its_minimum(demo):
    shop = await demo("ecommerce")
    assert (await shop.get("/coupons/welcome10")).json()["expired"] is False
    assert (await shop.get("/coupons/SPRING2024")).json()["expired"] is True
    assert (await shop.get("/coupons/NOPE")).status_code == 404

    applied = await shop.post("/orders/A1002/coupon", json={"code": "welcome10"})
    assert applied.status_code == 200
    assert {k: applied.json()[k] for k in ("coupon_code", "discount", "total", "refunded")} == {
        "coupon_code": "WELCOME10", "discount": 4.55, "total": 40.95, "refunded": 0.0
    }  # fmt: skip
    second = await shop.post("/orders/A1002/coupon", json={"code": "SAVE20"})
    assert second.status_code == 409 and "WELCOME10" in second.json()["detail"]

    expired = await shop.post("/orders/A1006/coupon", json={"code": "SPRING2024"})
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]
    assert (await shop.post("/orders/A1006/coupon", json={"code": "NOPE"})).status_code == 404
    below = await shop.post("/orders/A1004/coupon", json={"code": "SAVE20"})
    assert below.status_code == 422 and "100.00" in below.json()["detail"]
    shipped = await shop.post("/orders/A1001/coupon", json={"code": "WELCOME10"})
    assert shipped.status_code == 409 and "before shipping" in shipped.json()["detail"]

    # On a paid order the customer gets the discount back.
    paid = (await shop.post("/orders/A1004/coupon", json={"code": "WELCOME10"})).json()
    assert (paid["total"], paid["refunded"], paid["refundable"]) == (80.1, 8.9, 80.1)
    assert (await shop.get("/orders/A1006")).json()["coupon_code"] is None


async def test_a_repeated_idempotency_key_replays_the_first_answer_and_acts_once(demo):
    shop = await demo("ecommerce")
    first = await shop.post("/orders/A1004/cancel", headers={"Idempotency-Key": "k-1"})
    again = await shop.post("/orders/A1004/cancel", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len((await shop.get("/orders/A1004/refunds")).json()) == 1
    [row] = await audited(shop, "cancelOrder")
    assert (row["idempotency_key"], row["args"], row["status"]) == ("k-1", {"order_id": "A1004", "reason": None}, 200)

    # A refusal is the first answer too; the key cannot be reused for another request.
    body = {"amount": 1000, "reason": "too much"}
    refused = [await shop.post("/orders/A1003/refunds", json=body, headers={"Idempotency-Key": "k-2"}) for _ in "ab"]
    assert [r.status_code for r in refused] == [422, 422] and refused[0].json() == refused[1].json()
    other = await shop.post("/orders/A1002/cancel", headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and "another request" in other.json()["detail"]
    assert (await shop.get("/orders/A1002")).json()["status"] == "pending"
    assert [r["status"] for r in await audited(shop, "createRefund")] == [422]

    # Without a key every call acts (and is refused by the rules the second time).
    assert (await shop.post("/orders/A1002/cancel")).status_code == 200
    assert (await shop.post("/orders/A1002/cancel")).status_code == 409


async def test_an_injected_fault_answers_its_status_without_acting_then_the_operation_works(demo):
    shop = await demo("ecommerce")
    armed = await shop.post("/_faults", json={"operation_id": "cancelOrder", "status": 500, "times": 2})
    assert armed.status_code == 200
    for _ in range(2):
        failed = await shop.post("/orders/A1002/cancel", headers={"Idempotency-Key": "retry-me"})
        assert failed.status_code == 500 and "injected fault" in failed.json()["detail"]
    assert (await shop.get("/orders/A1002")).json()["status"] == "pending"
    assert await audited(shop, "cancelOrder") == []
    retried = await shop.post("/orders/A1002/cancel", headers={"Idempotency-Key": "retry-me"})
    assert retried.status_code == 200 and retried.json()["order"]["status"] == "cancelled"

    await shop.post("/_faults", json={"operation_id": "getOrder", "status": 503})
    assert (await shop.get("/orders/A1001")).status_code == 503
    assert (await shop.get("/orders/A1001")).status_code == 200
    unknown = await shop.post("/_faults", json={"operation_id": "dropTables", "status": 500})
    assert unknown.status_code == 404 and "getOrder" in unknown.json()["detail"]


async def test_a_reset_brings_back_the_seed(demo):
    shop = await demo("ecommerce")
    await shop.post("/orders/A1002/cancel", headers={"Idempotency-Key": "k"})
    assert (await shop.post("/_reset")).status_code == 204
    assert (await shop.get("/orders/A1002")).json()["status"] == "pending"
    assert (await shop.get("/_audit")).json() == []
    assert (await shop.post("/orders/A1002/cancel", headers={"Idempotency-Key": "k"})).headers.get(
        "Idempotent-Replayed"
    ) is None

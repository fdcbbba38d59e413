"""The card services demo backend over HTTP: cards freeze and unfreeze as states, a transaction is disputed once
for its own amount, writes happen once per Idempotency-Key and injected faults answer without acting."""

from __future__ import annotations

from tests.support.demo.conftest import audited


async def test_cards_are_found_by_id_or_by_the_cardholders_email(demo):
    cards = await demo("fintech")
    card = (await cards.get("/cards/c-4411")).json()
    assert (card["last4"], card["status"], card["limit"], card["currency"]) == ("4411", "active", 5000.0, "USD")
    mine = (await cards.get("/cards", params={"email": "alice@example.com"})).json()
    assert [(c["id"], c["status"], c["frozen_reason"]) for c in mine] == [
        ("C-4411", "active", None), ("C-4412", "frozen", "card lost")
    ]  # fmt: skip
    assert (await cards.get("/cards/C-7788")).json()["cardholder_name"] == "张伟"
    assert (await cards.get("/cards/C-0000")).status_code == 404
    assert (await cards.get("/cards", params={"email": "nobody@example.com"})).status_code == 404


async def test_a_card_is_frozen_and_unfrozen_once_each(demo):
    cards = await demo("fintech")
    frozen = await cards.post("/cards/C-4411/freeze", json={"reason": "phone stolen"})
    assert frozen.status_code == 200
    assert (frozen.json()["status"], frozen.json()["frozen_reason"]) == ("frozen", "phone stolen")
    again = await cards.post("/cards/C-4411/freeze")
    assert again.status_code == 409 and "already frozen" in again.json()["detail"]
    assert (await cards.get("/cards/C-4411")).json()["status"] == "frozen"

    thawed = (await cards.post("/cards/C-4411/unfreeze")).json()
    assert (thawed["status"], thawed["frozen_at"], thawed["frozen_reason"]) == ("active", None, None)
    assert (await cards.post("/cards/C-4411/unfreeze")).status_code == 409
    assert (await cards.post("/cards/C-4412/unfreeze")).json()["status"] == "active"


async def test_a_transaction_is_disputed_once_for_its_own_amount(demo):
    cards = await demo("fintech")
    history = (await cards.get("/cards/C-4411/transactions")).json()
    assert [t["id"] for t in history] == ["T-5004", "T-5003", "T-5002", "T-5001"]

    opened = await cards.post("/disputes", json={"transaction_id": "t-5003", "reason": "never received the goods"})
    assert opened.status_code == 201
    dispute = opened.json()
    assert (dispute["id"], dispute["transaction_id"], dispute["card_id"]) == ("D-1002", "T-5003", "C-4411")
    assert (dispute["amount"], dispute["currency"], dispute["status"]) == (489.0, "USD", "open")
    assert (await cards.get("/disputes/D-1002")).json() == dispute
    assert {t["id"]: t["dispute_id"] for t in (await cards.get("/cards/C-4411/transactions")).json()}["T-5003"] == (
        "D-1002"
    )

    twice = await cards.post("/disputes", json={"transaction_id": "T-5003", "reason": "again"})
    assert twice.status_code == 409 and "D-1002" in twice.json()["detail"]
    seeded = await cards.post("/disputes", json={"transaction_id": "T-5007", "reason": "double charge"})
    assert seeded.status_code == 409 and "D-1001" in seeded.json()["detail"]
    credit = await cards.post("/disputes", json={"transaction_id": "T-5008", "reason": "?"})
    assert credit.status_code == 422 and "credit" in credit.json()["detail"]
    pending = await cards.post("/disputes", json={"transaction_id": "T-5004", "reason": "?"})
    assert pending.status_code == 422 and "pending" in pending.json()["detail"]
    assert (await cards.post("/disputes", json={"transaction_id": "T-0", "reason": "?"})).status_code == 404
    assert (await cards.post("/disputes", json={"transaction_id": "T-5001"})).status_code == 422
    assert (await cards.get("/disputes/D-9999")).status_code == 404


async def test_a_dispute_retried_with_its_key_after_a_fault_is_opened_once(demo):
    cards = await demo("fintech")
    await cards.post("/_faults", json={"operation_id": "createDispute", "status": 500})
    body, key = {"transaction_id": "T-5010", "reason": "not recognised"}, {"Idempotency-Key": "dispute-1"}
    assert (await cards.post("/disputes", json=body, headers=key)).status_code == 500
    answers = [await cards.post("/disputes", json=body, headers=key) for _ in range(3)]
    assert {(a.status_code, a.json()["id"]) for a in answers} == {(201, "D-1002")}
    rows = await audited(cards, "createDispute")
    assert [(r["idempotency_key"], r["status"], r["args"]["transaction_id"]) for r in rows] == [
        ("dispute-1", 201, "T-5010")
    ]  # fmt: skip

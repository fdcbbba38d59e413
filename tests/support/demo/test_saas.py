"""The SaaS billing demo backend over HTTP: plans bound seats, seats never drop below those in use, writes happen
once per Idempotency-Key and injected faults answer without acting."""

from __future__ import annotations

from tests.support.demo.conftest import audited


async def test_an_account_is_found_by_id_or_billing_email_with_its_plan_and_price(demo):
    saas = await demo("saas")
    acme = (await saas.get("/accounts/acme")).json()
    assert (acme["plan"], acme["seats"], acme["seats_used"], acme["monthly_price"]) == ("team", 10, 8, 120.0)
    [found] = (await saas.get("/accounts", params={"email": "FINANCE@longteng.example"})).json()
    assert (found["id"], found["name"]) == ("LONGTENG", "龙腾科技")
    assert (await saas.get("/accounts/NOPE")).status_code == 404
    assert (await saas.get("/accounts", params={"email": "x@y.example"})).status_code == 404

    plans = (await saas.get("/plans")).json()
    assert [(p["id"], p["price_per_seat"], p["max_seats"]) for p in plans] == [
        ("free", 0.0, 3), ("team", 12.0, 50), ("business", 25.0, 1000)
    ]  # fmt: skip


async def test_seats_stay_between_those_in_use_and_the_plans_limit(demo):
    saas = await demo("saas")
    below = await saas.post("/accounts/ACME/seats", json={"seats": 7})
    assert below.status_code == 409 and "8 seats in use" in below.json()["detail"]
    above = await saas.post("/accounts/ACME/seats", json={"seats": 51})
    assert above.status_code == 409 and "at most 50" in above.json()["detail"]
    assert (await saas.post("/accounts/ACME/seats", json={"seats": 0})).status_code == 422
    assert (await saas.get("/accounts/ACME")).json()["seats"] == 10

    raised = await saas.post("/accounts/ACME/seats", json={"seats": 12})
    assert raised.status_code == 200 and (raised.json()["seats"], raised.json()["monthly_price"]) == (12, 144.0)
    lowered = (await saas.post("/accounts/ACME/seats", json={"seats": 8})).json()
    assert lowered["seats"] == 8 and (await saas.get("/accounts/ACME")).json()["seats"] == 8


async def test_a_plan_change_is_refused_when_the_seats_in_use_do_not_fit(demo):
    saas = await demo("saas")
    too_many = await saas.post("/accounts/LONGTENG/plan", json={"plan": "free"})
    assert too_many.status_code == 409 and "5 seats in use" in too_many.json()["detail"]
    assert (await saas.post("/accounts/GLOBEX/plan", json={"plan": "team"})).status_code == 409
    same = await saas.post("/accounts/ACME/plan", json={"plan": "team"})
    assert same.status_code == 409 and "already" in same.json()["detail"]
    unknown = await saas.post("/accounts/ACME/plan", json={"plan": "gold"})
    assert unknown.status_code == 422 and isinstance(unknown.json()["detail"], str)
    assert (await saas.get("/accounts/LONGTENG")).json()["plan"] == "team"

    upgraded = (await saas.post("/accounts/INITECH/plan", json={"plan": "team"})).json()
    assert upgraded["plan"] == "team" and upgraded["plan_changed_at"] and upgraded["monthly_price"] == 36.0
    assert (await saas.post("/accounts/INITECH/seats", json={"seats": 20})).status_code == 200
    # Down to free: the seats paid for shrink to the plan's limit (the 2 in use fit).
    downgraded = (await saas.post("/accounts/INITECH/plan", json={"plan": "free"})).json()
    assert (downgraded["plan"], downgraded["seats"], downgraded["monthly_price"]) == ("free", 3, 0.0)


async def test_invoices_are_listed_newest_first_and_found_by_number(demo):
    saas = await demo("saas")
    invoices = (await saas.get("/accounts/ACME/invoices")).json()
    assert [(i["id"], i["status"]) for i in invoices] == [
        ("INV-2025-0005", "open"), ("INV-2025-0002", "paid"), ("INV-2025-0001", "paid")
    ]  # fmt: skip
    invoice = (await saas.get("/invoices/inv-2025-0003")).json()
    assert (invoice["account_id"], invoice["amount"], invoice["seats"]) == ("GLOBEX", 3000.0, 120)
    assert (await saas.get("/invoices/INV-1")).status_code == 404
    assert (await saas.get("/accounts/NOPE/invoices")).status_code == 404


async def test_a_plan_change_retried_with_its_key_happens_once_even_after_a_fault(demo):
    saas = await demo("saas")
    await saas.post("/_faults", json={"operation_id": "changePlan", "status": 502, "times": 1})
    key = {"Idempotency-Key": "plan-1"}
    assert (await saas.post("/accounts/ACME/plan", json={"plan": "business"}, headers=key)).status_code == 502
    first = await saas.post("/accounts/ACME/plan", json={"plan": "business"}, headers=key)
    again = await saas.post("/accounts/ACME/plan", json={"plan": "business"}, headers=key)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert [row["status"] for row in await audited(saas, "changePlan")] == [200]
    # Without the key, the same change is a second request, refused by the rules.
    assert (await saas.post("/accounts/ACME/plan", json={"plan": "business"})).status_code == 409

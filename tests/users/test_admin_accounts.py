"""An admin opens an account with its role in one call (`POST /api/v1/users/accounts`); nobody else may, and public
registration stays what it was: customers only, limited per address."""

from __future__ import annotations

from tests.conftest import PASSWORD, assert_error, login


def _account(name: str, **fields) -> dict:
    return {"email": f"{name}@example.com", "password": PASSWORD, **fields}


async def test_an_admin_opens_a_staff_account_in_one_call(client, admin):
    created = await client.post(
        "/api/v1/users/accounts",
        json=_account("dana", role="staff", username="dana", display_name="Dana"),
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["email"], body["username"], body["display_name"], body["role"]) == (
        "dana@example.com",
        "dana",
        "Dana",
        "staff",
    )
    assert "password" not in created.text and "hash" not in created.text

    token = await login(client, "dana", PASSWORD)  # the username logs in as the e-mail does
    inbox = await client.get("/api/v1/support/inbox", headers={"Authorization": f"Bearer {token}"})
    assert inbox.status_code == 200, inbox.text  # a staff member from the first login, with no second step


async def test_the_role_defaults_to_customer_and_admins_can_be_made(client, admin):
    customer = await client.post("/api/v1/users/accounts", json=_account("cy"), headers=admin.headers)
    assert customer.status_code == 201 and customer.json()["role"] == "customer"
    made = await client.post("/api/v1/users/accounts", json=_account("ada", role="admin"), headers=admin.headers)
    assert made.status_code == 201 and made.json()["role"] == "admin"
    listed = await client.get("/api/v1/users", params={"role": "admin"}, headers=admin.headers)
    assert {u["email"] for u in listed.json()["items"]} >= {"ada@example.com", admin.email}


async def test_only_an_admin_opens_accounts(client, make_account, admin):
    customer, staff = await make_account("cust"), await make_account("desk", role="staff")
    wanted = _account("mallory", role="admin")
    assert_error(await client.post("/api/v1/users/accounts", json=wanted), 401)
    assert_error(await client.post("/api/v1/users/accounts", json=wanted, headers=customer.headers), 403, "forbidden")
    assert_error(await client.post("/api/v1/users/accounts", json=wanted, headers=staff.headers), 403, "forbidden")
    found = await client.get("/api/v1/users", params={"q": "mallory"}, headers=admin.headers)
    assert found.json()["total"] == 0


async def test_taken_names_and_bad_fields_are_refused_clearly(client, admin):
    assert (await client.post("/api/v1/users/accounts", json=_account("eve"), headers=admin.headers)).status_code == 201
    again = await client.post("/api/v1/users/accounts", json=_account("EVE", role="staff"), headers=admin.headers)
    assert_error(again, 409, "email_taken")
    named = await client.post("/api/v1/users/accounts", json=_account("eve2", username="evelyn"), headers=admin.headers)
    assert named.status_code == 201, named.text
    same_username = await client.post(
        "/api/v1/users/accounts", json=_account("eve3", username="evelyn"), headers=admin.headers
    )
    assert_error(same_username, 409, "username_taken")
    bad = await client.post(
        "/api/v1/users/accounts",
        json={"email": "not-an-email", "password": "tiny7ch", "role": "owner"},
        headers=admin.headers,
    )
    error = assert_error(bad, 422, "validation_error")
    assert {item["loc"][-1] for item in error["detail"]} == {"email", "password", "role"}
    assert "tiny7ch" not in bad.text  # submitted values are not echoed back


async def test_public_registration_still_makes_customers_only_and_stays_limited(client, admin, settings):
    settings.auth.register_limit_per_ip = "1/hour"
    smuggled = await client.post("/api/v1/users", json=_account("sneaky", role="admin"))
    assert_error(smuggled, 422, "validation_error")  # a role is not a field of registration
    first = await client.post("/api/v1/users", json=_account("pub"))
    assert first.status_code == 201 and first.json()["role"] == "customer"
    assert_error(await client.post("/api/v1/users", json=_account("pub2")), 429, "rate_limited")
    # The admin's route is not registration: the address's limit does not hold it back.
    for name in ("staff1", "staff2"):
        made = await client.post("/api/v1/users/accounts", json=_account(name, role="staff"), headers=admin.headers)
        assert made.status_code == 201, made.text

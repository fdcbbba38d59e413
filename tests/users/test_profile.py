from tests.conftest import PASSWORD, assert_error, client_at


async def test_a_user_updates_their_display_name(client, make_account):
    account = await make_account("xia")
    response = await client.patch("/api/v1/users/me", json={"display_name": "Xia Li"}, headers=account.headers)
    assert response.status_code == 200 and response.json()["display_name"] == "Xia Li"
    assert (await client.get("/api/v1/users/me", headers=account.headers)).json()["display_name"] == "Xia Li"


async def test_changing_email_needs_the_current_password(client, make_account):
    account = await make_account("yan")
    missing = await client.patch("/api/v1/users/me", json={"email": "new@example.com"}, headers=account.headers)
    assert_error(missing, 422, "validation_error")
    wrong = await client.patch(
        "/api/v1/users/me", json={"email": "new@example.com", "current_password": "not-it"}, headers=account.headers
    )
    assert_error(wrong, 401, "invalid_credentials")
    ok = await client.patch(
        "/api/v1/users/me", json={"email": "New@Example.com", "current_password": PASSWORD}, headers=account.headers
    )
    assert ok.status_code == 200 and ok.json()["email"] == "new@example.com"


async def test_taking_another_users_email_is_a_conflict_and_changes_nothing(client, make_account):
    first, second = await make_account("zed"), await make_account("abe")
    response = await client.patch(
        "/api/v1/users/me",
        json={"email": first.email, "display_name": "Changed", "current_password": PASSWORD},
        headers=second.headers,
    )
    assert_error(response, 409, "email_taken")
    assert (await client.get("/api/v1/users/me", headers=second.headers)).json()["display_name"] == "abe"


async def test_unknown_profile_fields_are_refused(client, make_account):
    account = await make_account("bea")
    response = await client.patch("/api/v1/users/me", json={"role": "admin"}, headers=account.headers)
    assert_error(response, 422)
    assert (await client.get("/api/v1/users/me", headers=account.headers)).json()["role"] == "customer"


async def test_wrong_current_passwords_are_limited_per_account_and_address_like_logins(app, make_account):
    account = await make_account("cal")
    async with client_at(app, "203.0.113.7") as thief, client_at(app, "198.51.100.2") as home:
        for i in range(5):
            guess = {"email": "taken@example.com", "current_password": f"guess-{i}-pw"}
            assert_error(await thief.patch("/api/v1/users/me", json=guess, headers=account.headers), 401)
        right = {"email": "taken@example.com", "current_password": PASSWORD}
        locked = await thief.patch("/api/v1/users/me", json=right, headers=account.headers)
        error = assert_error(locked, 429, "rate_limited")
        assert int(locked.headers["retry-after"]) >= 1 and error["detail"]["retry_after"] >= 1
        # Counted with the account's logins from that address; other addresses are unaffected.
        login = await thief.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
        assert_error(login, 429, "rate_limited")
        renamed = await thief.patch("/api/v1/users/me", json={"display_name": "Cal"}, headers=account.headers)
        assert renamed.status_code == 200
        changed = await home.patch("/api/v1/users/me", json=right, headers=account.headers)
        assert changed.status_code == 200 and changed.json()["email"] == "taken@example.com"

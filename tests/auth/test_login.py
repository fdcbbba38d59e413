from tests.conftest import PASSWORD, assert_error


async def test_login_returns_a_bearer_token_and_an_http_only_cookie(client, make_account):
    account = await make_account("dora")
    response = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["expires_in"] > 0
    cookie = response.headers["set-cookie"]
    assert "loopdesk_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()


async def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_account):
    account = await make_account("eve")
    wrong = await client.post("/api/v1/auth/login", json={"email": account.email, "password": "nope-nope-nope"})
    unknown = await client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(unknown, 401, "invalid_credentials")


async def test_login_accepts_the_email_in_any_case(client, make_account):
    account = await make_account("finn")
    response = await client.post("/api/v1/auth/login", json={"email": account.email.upper(), "password": PASSWORD})
    assert response.status_code == 200


async def test_failed_logins_lock_the_account_for_a_while_even_for_the_right_password(client, make_account):
    account = await make_account("gus")
    for _ in range(5):
        failed = await client.post("/api/v1/auth/login", json={"email": account.email, "password": "wrong-password"})
        assert failed.status_code == 401
    locked = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    error = assert_error(locked, 429, "rate_limited")
    assert int(locked.headers["retry-after"]) >= 1
    assert error["detail"]["retry_after"] >= 1


async def test_other_accounts_are_not_locked_by_one_accounts_failures(client, make_account):
    victim, bystander = await make_account("hal"), await make_account("ida")
    for _ in range(6):
        await client.post("/api/v1/auth/login", json={"email": victim.email, "password": "wrong-password"})
    ok = await client.post("/api/v1/auth/login", json={"email": bystander.email, "password": PASSWORD})
    assert ok.status_code == 200


async def test_one_address_is_limited_across_accounts(client):
    for i in range(20):  # the default per-IP limit
        response = await client.post(
            "/api/v1/auth/login", json={"email": f"nobody{i}@example.com", "password": "whatever-123"}
        )
        assert response.status_code == 401
    blocked = await client.post("/api/v1/auth/login", json={"email": "another@example.com", "password": "x"})
    assert_error(blocked, 429, "rate_limited")


async def test_a_deactivated_user_cannot_log_in(client, make_account, admin):
    account = await make_account("jan")
    patched = await client.patch(f"/api/v1/users/{account.id}", json={"is_active": False}, headers=admin.headers)
    assert patched.status_code == 200
    response = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_error(response, 401, "invalid_credentials")
    assert_error(await client.get("/api/v1/users/me", headers=account.headers), 401)

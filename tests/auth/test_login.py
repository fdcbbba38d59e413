from tests.conftest import PASSWORD, assert_error, client_at


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


async def test_failed_logins_lock_the_account_out_from_that_address_even_for_the_right_password(client, make_account):
    account = await make_account("gus")
    for _ in range(5):
        failed = await client.post("/api/v1/auth/login", json={"email": account.email, "password": "wrong-password"})
        assert failed.status_code == 401
    locked = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    error = assert_error(locked, 429, "rate_limited")
    assert int(locked.headers["retry-after"]) >= 1
    assert error["detail"]["retry_after"] >= 1


async def test_an_attacker_at_one_address_cannot_lock_the_owner_out_from_another(app, make_account):
    owner = await make_account("kai")
    async with client_at(app, "203.0.113.7") as attacker, client_at(app, "198.51.100.2") as home:
        for i in range(8):
            guess = await attacker.post("/api/v1/auth/login", json={"email": owner.email, "password": f"guess-{i}-pw"})
            assert guess.status_code == (401 if i < 5 else 429)
        still_locked = await attacker.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
        assert_error(still_locked, 429, "rate_limited")
        signed_in = await home.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
        assert signed_in.status_code == 200 and signed_in.json()["access_token"]


async def test_failures_from_many_addresses_slow_the_account_down_boundedly_but_never_lock_it(
    app, settings, make_account, monkeypatch
):
    owner = await make_account("lev")
    settings.auth.login_slowdown_per_account = "3/15 minutes"
    settings.auth.login_slowdown_max_seconds = 0.5
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("loopdesk.auth.attempts.sleep", record)
    for i in range(5):  # one failure per address: no address reaches its own lockout
        async with client_at(app, f"203.0.113.{i + 1}") as attacker:
            guess = await attacker.post("/api/v1/auth/login", json={"email": owner.email, "password": "bad-guess-1"})
            assert guess.status_code == 401
    async with client_at(app, "198.51.100.2") as home:
        signed_in = await home.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert signed_in.status_code == 200
    # The 4th and later attempts wait, doubling from 0.25 s, never longer than the maximum.
    assert waits == [0.25, 0.5, 0.5]


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

import time
import uuid
from datetime import timedelta

import jwt

from loopdesk.core.security import create_access_token
from tests.conftest import PASSWORD, assert_error

SECRET = "test-secret-" + "x" * 32


async def test_a_bearer_token_reads_the_profile(client, make_account):
    account = await make_account("kim")
    response = await client.get("/api/v1/users/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["email"] == account.email


async def test_the_login_cookie_alone_authenticates(client, make_account):
    account = await make_account("lea")
    await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert client.cookies.get("loopdesk_session")
    response = await client.get("/api/v1/users/me")
    assert response.status_code == 200 and response.json()["id"] == account.id


async def test_no_credentials_answer_401(client):
    for path in ("/api/v1/users/me", "/api/v1/users", "/api/v1/api-keys", f"/api/v1/users/{uuid.uuid4()}"):
        assert_error(await client.get(path), 401, "not_authenticated")


async def test_forged_expired_and_malformed_tokens_are_refused(client, make_account):
    account = await make_account("max")
    user_id = uuid.UUID(account.id)
    forged, _ = create_access_token(user_id, key="some-other-key-" + "y" * 32, ttl=timedelta(minutes=5))
    expired, _ = create_access_token(user_id, key=SECRET, ttl=timedelta(seconds=-10))
    unsigned = jwt.encode(
        {"sub": account.id, "jti": "a", "iat": int(time.time()), "exp": int(time.time()) + 60},
        key=None,
        algorithm="none",
    )
    unknown_user, _ = create_access_token(uuid.uuid4(), key=SECRET, ttl=timedelta(minutes=5))
    for token in (forged, expired, unsigned, unknown_user, "not.a.jwt", "x" * 5000):
        response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401)
    assert_error(await client.get("/api/v1/users/me", headers={"Authorization": "Basic abc"}), 401)
    assert_error(await client.get("/api/v1/users/me", headers={"Authorization": "Bearer"}), 401)


async def test_logout_ends_the_token_and_clears_the_cookie(client, make_account):
    account = await make_account("ned")
    other_session = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    other_token = other_session.json()["access_token"]
    client.cookies.clear()
    response = await client.post("/api/v1/auth/logout", headers=account.headers)
    assert response.status_code == 204
    assert 'loopdesk_session=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    assert_error(await client.get("/api/v1/users/me", headers=account.headers), 401)
    # Only the token that logged out ends; another device's session stays.
    assert (await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {other_token}"})).status_code == 200


async def test_changing_the_password_ends_every_earlier_token(client, make_account):
    account = await make_account("ola")
    changed = await client.patch(
        "/api/v1/users/me",
        json={"password": "a-brand-new-password", "current_password": PASSWORD},
        headers=account.headers,
    )
    assert changed.status_code == 200
    assert_error(await client.get("/api/v1/users/me", headers=account.headers), 401)
    fresh = await client.post("/api/v1/auth/login", json={"email": account.email, "password": "a-brand-new-password"})
    assert fresh.status_code == 200


async def test_cookie_writes_from_another_site_are_refused(client, make_account):
    account = await make_account("pia")
    await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    cross = await client.patch(
        "/api/v1/users/me", json={"display_name": "Hacked"}, headers={"Origin": "https://evil.example"}
    )
    assert_error(cross, 403, "forbidden")
    same = await client.patch("/api/v1/users/me", json={"display_name": "Pia"}, headers={"Origin": "http://testserver"})
    assert same.status_code == 200 and same.json()["display_name"] == "Pia"

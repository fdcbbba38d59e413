"""The seeds' user fields and routes: an optional username (register, profile, login by e-mail or
username), and `/api/v1/users`, `/users/login`, `/users/profile` answering exactly like the canonical
auth and `users/me` routes. The seeds' unversioned `/api/...` paths reach the same handlers."""

from __future__ import annotations

import uuid

from tests.conftest import PASSWORD, assert_error


def _email() -> str:
    return f"seed-{uuid.uuid4().hex[:8]}@example.com"


async def test_register_by_the_seed_route_with_a_username_and_log_in_with_either(client):
    email = _email()
    created = await client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "username": "Li.Wei"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "li.wei" and user["display_name"] == "li.wei" and user["user_id"] == user["id"]

    for body in ({"email": email}, {"username": "LI.WEI"}, {"email": "li.wei"}):
        login = await client.post("/api/v1/users/login", json={**body, "password": PASSWORD})
        assert login.status_code == 200, (body, login.text)
        token = login.json()["access_token"]
        me = await client.get("/api/v1/users/profile", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["id"] == user["id"]
    wrong = await client.post("/api/v1/users/login", json={"username": "li.wei", "password": "wrong password"})
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(await client.post("/api/v1/users/login", json={"password": PASSWORD}), 422)


async def test_seed_routes_answer_like_the_canonical_ones(client):
    canonical = await client.post("/api/v1/auth/register", json={"email": _email(), "password": PASSWORD})
    alias = await client.post("/api/v1/users", json={"email": _email(), "password": PASSWORD})
    assert canonical.status_code == alias.status_code == 201
    assert set(canonical.json()) == set(alias.json())
    duplicate = {"email": canonical.json()["email"], "password": PASSWORD}
    assert (await client.post("/api/v1/auth/register", json=duplicate)).json() == (
        await client.post("/api/v1/users", json=duplicate)
    ).json()
    assert_error(await client.post("/api/v1/users", json=duplicate), 409, "email_taken")

    body = {"email": canonical.json()["email"], "password": PASSWORD}
    by_auth = await client.post("/api/v1/auth/login", json=body)
    by_users = await client.post("/api/v1/users/login", json=body)
    assert by_auth.status_code == by_users.status_code == 200
    assert set(by_auth.json()) == set(by_users.json()) == {"access_token", "token_type", "expires_in"}
    assert "set-cookie" in by_users.headers
    client.cookies.clear()  # authenticate explicitly below
    headers = {"Authorization": f"Bearer {by_users.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).json() == (
        await client.get("/api/v1/users/profile", headers=headers)
    ).json()

    put = await client.put("/api/v1/users/profile", json={"display_name": "Seed"}, headers=headers)
    patch = await client.patch("/api/v1/users/me", json={"username": "seeded"}, headers=headers)
    assert put.status_code == patch.status_code == 200
    assert patch.json()["display_name"] == "Seed" and patch.json()["username"] == "seeded"
    assert_error(await client.put("/api/v1/users/profile", json={"role": "admin"}, headers=headers), 422)
    assert_error(await client.get("/api/v1/users/profile"), 401)


async def test_usernames_are_unique_regardless_of_case_and_validated(client, make_account):
    first = await client.post("/api/v1/users", json={"email": _email(), "password": PASSWORD, "username": "Mei"})
    assert first.status_code == 201
    taken = await client.post("/api/v1/users", json={"email": _email(), "password": PASSWORD, "username": "MEI"})
    assert_error(taken, 409, "username_taken")
    for bad in ("ab", "has space", "a@b", "-dash", "x" * 51):
        response = await client.post("/api/v1/users", json={"email": _email(), "password": PASSWORD, "username": bad})
        assert_error(response, 422, "validation_error")
    other = await make_account("other")
    clash = await client.patch("/api/v1/users/me", json={"username": "mei"}, headers=other.headers)
    assert_error(clash, 409, "username_taken")


async def test_the_seeds_unversioned_paths_reach_the_same_handlers(client, make_account):
    account = await make_account("unversioned")
    profile = await client.get("/api/users/profile", headers=account.headers)
    assert profile.status_code == 200 and profile.json()["id"] == account.id
    session = await client.post("/api/sessions", json={"title": "seed"}, headers=account.headers)
    assert session.status_code == 201
    listed = await client.get("/api/v1/sessions", headers=account.headers)
    assert [s["session_id"] for s in listed.json()["items"]] == [session.json()["session_id"]]
    assert (await client.get("/api/tools", headers=account.headers)).status_code == 200
    assert (await client.get("/api/tools/pending-approvals", headers=account.headers)).status_code == 200
    assert (await client.get("/api/approvals", headers=account.headers)).status_code == 200
    assert_error(await client.get("/api/sessions"), 401)
    assert (await client.get("/api/unknown")).status_code == 404

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from loopdesk.auth.models import ApiKey
from tests.conftest import assert_error


async def test_an_api_key_is_shown_once_and_then_only_listed(client, make_account):
    account = await make_account("quin")
    created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=account.headers)
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("ldk_") and body["name"] == "ci"
    listed = await client.get("/api/v1/api-keys", headers=account.headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [body["id"]]
    assert body["key"] not in listed.text and "key" not in listed.json()[0]


async def test_an_api_key_authenticates_as_its_owner_by_header_or_bearer(client, make_account):
    account = await make_account("rae")
    key = (await client.post("/api/v1/api-keys", json={"name": "bot"}, headers=account.headers)).json()["key"]
    by_header = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    by_bearer = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})
    assert by_header.status_code == by_bearer.status_code == 200
    assert by_header.json()["id"] == account.id
    listed = (await client.get("/api/v1/api-keys", headers=account.headers)).json()
    assert listed[0]["last_used_at"] is not None


async def test_a_revoked_api_key_stops_working_at_once(client, make_account):
    account = await make_account("sam")
    created = (await client.post("/api/v1/api-keys", json={"name": "old"}, headers=account.headers)).json()
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200
    revoked = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers)
    assert revoked.status_code == 204
    assert_error(await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]}), 401)
    listed = (await client.get("/api/v1/api-keys", headers=account.headers)).json()
    assert listed[0]["revoked_at"] is not None


async def test_nobody_can_see_or_revoke_another_users_key(client, make_account):
    owner, stranger = await make_account("tia"), await make_account("uma")
    created = (await client.post("/api/v1/api-keys", json={"name": "mine"}, headers=owner.headers)).json()
    assert (await client.get("/api/v1/api-keys", headers=stranger.headers)).json() == []
    assert_error(await client.delete(f"/api/v1/api-keys/{created['id']}", headers=stranger.headers), 404)
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200


async def test_wrong_expired_and_malformed_keys_are_refused(client, make_account, app):
    account = await make_account("vic")
    created = (await client.post("/api/v1/api-keys", json={"name": "x"}, headers=account.headers)).json()
    prefix_only = created["key"][: len("ldk_") + 12] + "_wrongsecret"
    for key in (prefix_only, "ldk_", "not-a-key", "ldk_" + "a" * 12 + "_" + "b" * 500):
        assert_error(await client.get("/api/v1/users/me", headers={"X-API-Key": key}), 401)
    async with app.state.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.id == created["id"]).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_error(await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]}), 401)


async def test_api_key_input_is_validated(client, make_account):
    account = await make_account("wes")
    assert_error(await client.post("/api/v1/api-keys", json={"name": ""}, headers=account.headers), 422)
    bad_expiry = await client.post(
        "/api/v1/api-keys", json={"name": "a", "expires_in_days": 0}, headers=account.headers
    )
    assert_error(bad_expiry, 422)
    assert_error(await client.delete("/api/v1/api-keys/not-a-uuid", headers=account.headers), 422)

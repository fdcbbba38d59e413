from tests.conftest import PASSWORD, assert_error, client_at


async def test_register_returns_the_new_customer_without_secrets(client):
    response = await client.post(
        "/api/v1/auth/register", json={"email": "Ann@Example.COM", "password": PASSWORD, "display_name": " Ann "}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ann@example.com"
    assert body["display_name"] == "Ann"
    assert body["role"] == "customer"
    assert "password" not in response.text and "hash" not in response.text


async def test_registering_an_existing_email_in_any_case_is_a_conflict(client):
    first = {"email": "bob@example.com", "password": PASSWORD, "display_name": "Bob"}
    assert (await client.post("/api/v1/auth/register", json=first)).status_code == 201
    again = await client.post("/api/v1/auth/register", json={**first, "email": "BOB@example.com"})
    assert_error(again, 409, "email_taken")


async def test_register_rejects_bad_fields_naming_each_one(client):
    response = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "tiny7ch", "display_name": ""}
    )
    error = assert_error(response, 422, "validation_error")
    assert {tuple(item["loc"][-1:]) for item in error["detail"]} == {("email",), ("password",), ("display_name",)}
    assert "tiny7ch" not in response.text  # submitted values are not echoed back


async def test_register_rejects_wrong_types_and_malformed_json(client):
    wrong = await client.post("/api/v1/auth/register", json={"email": 5, "password": ["x"], "display_name": {}})
    assert_error(wrong, 422, "validation_error")
    malformed = await client.post(
        "/api/v1/auth/register", content=b'{"email": "x@example.com",', headers={"content-type": "application/json"}
    )
    assert_error(malformed, 400, "invalid_json")
    not_json = await client.post("/api/v1/auth/register", content=b"email=x", headers={"content-type": "text/plain"})
    assert not_json.status_code in (400, 422)
    assert_error(not_json, not_json.status_code)


async def test_a_failed_registration_loses_nothing(client):
    data = {"email": "carl@example.com", "password": PASSWORD, "display_name": "Carl"}
    assert (await client.post("/api/v1/auth/register", json=data)).status_code == 201
    await client.post("/api/v1/auth/register", json={**data, "password": "other-password-1"})
    login = await client.post("/api/v1/auth/login", json={"email": data["email"], "password": PASSWORD})
    assert login.status_code == 200


async def test_one_address_is_limited_in_registrations_across_every_registration_route(app, client, settings):
    settings.auth.register_limit_per_ip = "3/hour"
    for n, path in enumerate(("/api/v1/auth/register", "/api/v1/users", "/api/users")):
        created = await client.post(path, json={"email": f"bulk{n}@example.com", "password": PASSWORD})
        assert created.status_code == 201, created.text
    for path in ("/api/v1/auth/register", "/api/v1/users", "/api/users"):
        refused = await client.post(path, json={"email": "bulk-more@example.com", "password": PASSWORD})
        error = assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1 and error["detail"]["retry_after"] >= 1
    async with client_at(app, "198.51.100.9") as elsewhere:
        other = await elsewhere.post(
            "/api/v1/auth/register", json={"email": "bulk-more@example.com", "password": PASSWORD}
        )
    assert other.status_code == 201

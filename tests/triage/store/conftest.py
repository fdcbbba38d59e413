"""One database per test module (tests roll back, or write under names of their own); an app serving the log
store's router (app.py does not include it yet) started once per module; accounts made once.

The app is `create_app`'s HTTP stack without the agent runtime: the same error envelope, body limit, request
context, authentication, users and API keys, on the same database with the first admin. Building the whole
runtime would import every model SDK (seconds per test run) for routes that never touch it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.endpoints import api_keys_router
from loopdesk.auth.endpoints import router as auth_router
from loopdesk.core.db import Database
from loopdesk.core.errors import install_error_handlers
from loopdesk.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import (
    AuthSettings,
    DatabaseSettings,
    LoggingSettings,
    RuntimeSettings,
    ServerSettings,
    Settings,
)
from loopdesk.triage.store.endpoints import router
from loopdesk.users.bootstrap import bootstrap_admin
from loopdesk.users.endpoints import router as users_router
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_GRAPHS, Account, register_account


@pytest.fixture(scope="module")
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"loopdesk_logs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_db))
        )
    yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(
        server=ServerSettings(env="test", _env_file=None),
        database=DatabaseSettings(database_url=database_url, data_dir=data_dir, migrate_on_start=False, _env_file=None),
        auth=AuthSettings(
            jwt_secret="test-secret-" + "x" * 32,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            _env_file=None,
        ),
        logging=LoggingSettings(log_level="WARNING", _env_file=None),
        runtime=RuntimeSettings(graphs_config=TEST_GRAPHS, worker=False, _env_file=None),
    )


@pytest.fixture(scope="module")
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    application = FastAPI()
    application.state.settings = settings
    install_error_handlers(application)
    application.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.server.max_body_bytes)
    application.add_middleware(RequestContextMiddleware)
    for routes in (auth_router, users_router, api_keys_router, router):
        application.include_router(routes)
    database = Database.connect(database_url, pool_size=4, max_overflow=0)
    application.state.database = database
    application.state.rate_limiter = RateLimiter.from_redis_url(None)
    await bootstrap_admin(database, settings)
    yield application
    await database.dispose()


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _account(client: httpx.AsyncClient, name: str, role: str) -> Account:
    return await register_account(client, name, role=role)


@pytest.fixture(scope="module")
async def staff(client: httpx.AsyncClient) -> Account:
    return await _account(client, "staff", "staff")


@pytest.fixture(scope="module")
async def customer(client: httpx.AsyncClient) -> Account:
    return await _account(client, "customer", "customer")


@pytest.fixture(scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.connect(database_url, pool_size=2, max_overflow=0)
    yield db
    await db.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session whose transaction is rolled back after the test: nothing it writes outlives it."""
    async with database.sessionmaker() as s:
        await s.begin()
        try:
            yield s
        finally:
            await s.rollback()

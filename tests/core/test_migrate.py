import re
import threading
import uuid
from importlib.resources import files

import psycopg
from psycopg import sql

from loopdesk.core.migrate import current_revision, include_object, run_migrations
from tests.conftest import _with_database


def _fresh_database(pg_admin_url: str) -> str:
    name = f"loopdesk_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(pg_admin_url, name)


def test_processes_migrating_at_once_do_not_race(pg_admin_url):
    url = _fresh_database(pg_admin_url)
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            run_migrations(url)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(url) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"users", "api_keys", "revoked_tokens", "alembic_version"} <= tables
    # LangGraph's saver and store created their own tables through setup().
    assert {"checkpoints", "checkpoint_writes", "store"} <= tables
    assert current_revision(url) is not None


def test_migrating_twice_changes_nothing(pg_admin_url):
    url = _fresh_database(pg_admin_url)
    run_migrations(url)
    head = current_revision(url)
    run_migrations(url)
    assert current_revision(url) == head


def test_revision_files_are_dated_and_form_one_chain():
    versions = files("loopdesk") / "migrations" / "versions"
    names = sorted(p.name for p in versions.iterdir() if p.name.endswith(".py"))
    assert names and all(re.match(r"^\d{8}_\d{4}_[0-9a-f]+_\w+\.py$", n) for n in names)
    down: dict[str, str | None] = {}
    for name in names:
        text = (versions / name).read_text()
        revision = re.search(r"^revision: str = '?\"?([0-9a-f]+)", text, re.M).group(1)
        parent = re.search(r"^down_revision: str \| None = (None|'([0-9a-f]+)'|\"([0-9a-f]+)\")", text, re.M)
        down[revision] = parent.group(2) or parent.group(3)
    roots = [r for r, parent in down.items() if parent is None]
    assert len(roots) == 1
    assert len(set(down.values())) == len(down)  # no two revisions share a parent: linear


def test_the_models_and_the_migrations_agree(pg_admin_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from loopdesk.core.db import sqlalchemy_url
    from loopdesk.core.models import Base

    url = _fresh_database(pg_admin_url)
    run_migrations(url)
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object, "target_metadata": Base.metadata}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], "a model changed without a migration: run `alembic revision --autogenerate`"

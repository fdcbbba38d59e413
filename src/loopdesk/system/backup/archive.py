"""The archive format: a tar whose first member is a manifest (format version, sizes and sha256 of the other
members: the dump and the JWT key), written whole or not at all, and checked against its manifest as it is unpacked."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from loopdesk.system.backup.progress import BackupError

FORMAT = "loopdesk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
JWT_KEY = "keys/jwt_secret"
_MEMBERS = (DUMP, JWT_KEY)
_CHUNK = 1024 * 1024


# --- backup --------------------------------------------------------------------------------------------------


def destination(path: Path, force: bool) -> Path:
    path = path.expanduser()
    if path.is_dir():
        path = path / f"loopdesk-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar"
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory")
    if path.exists() and not force:
        raise BackupError(f"{path} exists: pass --force to overwrite it")
    return path.resolve()


def digest(handle: IO[bytes], copy_to: IO[bytes] | None = None) -> tuple[str, int]:
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


def pack(target: Path, manifest: dict, dump_path: Path, jwt_key: str | None, force: bool) -> None:
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
                    checksum, size = digest(source, copy_to=sink)
                if (size, checksum) != (expected[name]["size"], expected[name]["sha256"]):
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

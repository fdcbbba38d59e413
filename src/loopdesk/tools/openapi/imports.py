"""OpenAPI import jobs: fetch (through the SSRF-safe client) or take an upload, parse, classify each
operation, wait for a reviewer, then go live for the chosen assistants at once. A broken or hostile
document fails its job with the reason and changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.tools.net import OutboundPolicy, UnsafeDestination, check_url, safe_client
from loopdesk.tools.openapi.repository import ImportRepository
from loopdesk.tools.openapi.spec import SpecError, fetch_document, load_document, parse_operations

log = structlog.get_logger("loopdesk.openapi")

# An import created without a name is named after its document's title once the job has read it.
NAME_FROM_TITLE = "name_from_title"
PROVISIONAL_PREFIX = "import-"


async def check_base_url(base_url: str, policy: OutboundPolicy) -> None:
    """The API's server must be one the outbound policy lets tools reach (no metadata endpoints)."""
    try:
        await check_url(base_url, policy)
    except UnsafeDestination as exc:
        raise SpecError(f"the server URL {base_url!r} is refused: {exc}") from None
    except OSError as exc:
        raise SpecError(f"the server URL {base_url!r} does not resolve: {exc}") from None


async def process_import(database: Database, settings: Settings, import_id: uuid.UUID) -> None:
    async with database.sessionmaker() as session:
        row = await ImportRepository(session).get(import_id)
        if row is None or row.status != "queued":
            return
        source_url, document, base_override = row.source_url, row.document, row.base_url
        named_by_title = bool((row.spec or {}).get(NAME_FROM_TITLE))
    policy = OutboundPolicy.from_allowlist(settings.outbound.allowlist)
    try:
        parsed = await _parse(source_url, document, base_override, policy, settings)
    except SpecError as exc:
        await _finish(database, import_id, status="failed", error=str(exc))
        log.info("openapi.import_failed", import_id=str(import_id), reason=str(exc))
        return
    await _finish(
        database,
        import_id,
        status="review",
        spec={k: v for k, v in parsed.to_dict().items() if k != "operations"},
        operations=[op.to_dict() for op in parsed.operations],
        base_url=base_override or parsed.base_url,
        title=parsed.title if named_by_title else None,
    )
    log.info("openapi.import_parsed", import_id=str(import_id), operations=len(parsed.operations))


async def _parse(source_url: str | None, document: bytes | None, base_override: str | None, policy, settings):  # type: ignore[no-untyped-def]
    timeout = settings.outbound.outbound_timeout_seconds
    async with safe_client(policy, timeout=timeout) as client:

        async def external(url: str) -> dict[str, Any]:  # the parser bounds how many
            return load_document(await fetch_document(url, client))

        try:
            raw = await fetch_document(source_url, client) if source_url else (document or b"")
            parsed = await parse_operations(load_document(raw), fetch_external=external, source_url=source_url)
        except UnsafeDestination as exc:
            raise SpecError(f"refused: {exc}") from None
        except httpx.HTTPError as exc:
            raise SpecError(f"fetching the document failed: {type(exc).__name__}: {exc}") from None
    base_url = base_override or parsed.base_url
    if not base_url:
        raise SpecError("the document names no server URL: give `base_url` with the import")
    await check_base_url(base_url, policy)
    if not parsed.operations:
        raise SpecError("the document defines no operations")
    return parsed


async def _finish(database: Database, import_id: uuid.UUID, *, title: str | None = None, **values: Any) -> None:
    async with database.sessionmaker() as session, session.begin():
        repository = ImportRepository(session)
        row = await repository.get(import_id, for_update=True)
        if row is None or row.status != "queued":
            return
        if title is not None:
            await repository.lock_naming()
            row.name = await free_name(repository, slug(title))
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = datetime.now(UTC)


def slug(title: str, *, max_length: int = 34) -> str:
    """`Swagger Petstore - OpenAPI 3.0` → `swagger-petstore-openapi-3-0`; a title with no ASCII letters → `api`."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:max_length].strip("-") or "api"


async def free_name(repository: ImportRepository, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first no other import holds (names are at most 40 characters)."""
    taken = await repository.names_starting_with(base)
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)

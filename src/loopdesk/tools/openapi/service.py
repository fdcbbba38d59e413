"""Creating and approving OpenAPI imports: one path for the REST endpoints and for templates
(`loopdesk templates apply`), so a template's tools are imported exactly as a user's are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.service import record
from loopdesk.core.crypto import SecretBox
from loopdesk.core.errors import Conflict
from loopdesk.core.settings import Settings
from loopdesk.runtime.assistants.schemas import AssistantPatch
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.queue import OPENAPI_TASK, defer
from loopdesk.tools.models import OpenAPIImport
from loopdesk.tools.openapi.imports import NAME_FROM_TITLE, PROVISIONAL_PREFIX
from loopdesk.tools.openapi.repository import ImportRepository
from loopdesk.users.models import User


class NameTaken(Conflict):
    code, message = "conflict", "An import with this name exists"


async def create_import(
    session: AsyncSession,
    settings: Settings,
    admin: User,
    *,
    name: str | None,
    url: str | None,
    document: bytes | None,
    base_url: str | None,
    credentials: dict[str, Any] | None,
    assistant_ids: list[Any],
) -> OpenAPIImport:
    """A queued import job (parsed and classified by the queue's OpenAPI task), audited."""
    repository = ImportRepository(session)
    if name is not None and await repository.name_taken(name):
        raise NameTaken(detail={"name": name})
    now = datetime.now(UTC)
    # Unnamed: a provisional name until the job has read the document's title (imports.title_name).
    chosen = name or f"{PROVISIONAL_PREFIX}{uuid.uuid4().hex[:12]}"
    row = OpenAPIImport(
        id=uuid.uuid4(),
        name=chosen,
        status="queued",
        spec={} if name else {NAME_FROM_TITLE: True},
        source_url=url,
        document=document,
        base_url=base_url,
        credentials=SecretBox.from_settings(settings).seal(credentials) if credentials else None,
        assistant_ids=assistant_ids,
        created_by=admin.id,
        created_at=now,
        updated_at=now,
    )
    await repository.add(row)
    await defer(session, OPENAPI_TASK, {"import_id": str(row.id)})
    await record(session, "openapi.imported", "openapi_import", row.id, actor_id=admin.id, url=url, name=chosen)
    return row


async def approve_import(
    session: AsyncSession, graphs: GraphRegistry, admin: User, row: OpenAPIImport, assistant_ids: list[Any]
) -> None:
    """Put the enabled operations live (the caller commits, then refreshes the registry); the chosen assistants
    get them (`openapi:<name>/*` joins their `tools`)."""
    assistants = AssistantService(session, graphs)
    for assistant_id in assistant_ids:
        assistant = await assistants.get(admin, str(assistant_id))
        configurable = dict((assistant.config or {}).get("configurable") or {})
        selectors = configurable.get("tools")
        if selectors is not None and f"openapi:{row.name}/*" not in selectors:
            configurable["tools"] = [*selectors, f"openapi:{row.name}/*"]
            config = {**(assistant.config or {}), "configurable": configurable}
            await assistants.patch(admin, str(assistant.assistant_id), AssistantPatch(config=config))
    now = datetime.now(UTC)
    row.status, row.approved_by, row.approved_at, row.updated_at = "approved", admin.id, now, now
    row.assistant_ids = [str(a) for a in assistant_ids]
    tools = [op["tool_name"] for op in row.operations if op.get("enabled")]
    await record(session, "openapi.approved", "openapi_import", row.id, actor_id=admin.id, tools=tools,
                 assistants=row.assistant_ids)  # fmt: skip

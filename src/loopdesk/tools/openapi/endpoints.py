"""OpenAPI imports: import (URL, JSON body or file upload), job status, classifications to review
and edit, approve (the tools are live at once for the chosen assistants), delete. Admins import,
approve and delete; staff review."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from pydantic import ValidationError

from loopdesk.audit.service import record
from loopdesk.auth.deps import AdminUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import BadRequest, Conflict, NotFound
from loopdesk.runtime.deps import GraphsDep
from loopdesk.tools.deps import ToolRuntimeDep
from loopdesk.tools.models import OpenAPIImport
from loopdesk.tools.openapi import service as imports_service
from loopdesk.tools.openapi.repository import ImportRepository
from loopdesk.tools.openapi.schemas import (
    ApproveImport,
    Classification,
    ClassificationEdit,
    CredentialsIn,
    ImportCreate,
    ImportRead,
)
from loopdesk.users.models import User

router = APIRouter(prefix="/api/v1/openapi", tags=["openapi imports"])

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class ImportNotFound(NotFound):
    code, message = "import_not_found", "No OpenAPI import with this id"


class NotInReview(Conflict):
    code, message = "import_not_in_review", "Only an import in review can be edited or approved"


def _read(row: OpenAPIImport) -> ImportRead:
    spec = row.spec or {}
    return ImportRead(
        id=row.id,
        name=row.name,
        status=row.status,  # type: ignore[arg-type]
        source_url=row.source_url,
        base_url=row.base_url,
        error=row.error,
        title=spec.get("title"),
        version=spec.get("version"),
        spec_version=spec.get("spec_version"),
        warnings=spec.get("warnings") or [],
        operations=len(row.operations or []),
        enabled=sum(1 for op in row.operations or [] if op.get("enabled")),
        has_credentials=row.credentials is not None,
        assistant_ids=[str(a) for a in row.assistant_ids or []],
        created_at=row.created_at,
        updated_at=row.updated_at,
        approved_at=row.approved_at,
    )


async def _create(
    session: SessionDep, settings: SettingsDep, admin: User, data: ImportCreate, document: bytes | None
) -> ImportRead:
    credentials = data.credentials.model_dump() if data.credentials else None
    row = await imports_service.create_import(
        session,
        settings,
        admin,
        name=data.name,
        url=data.url,
        document=document,
        base_url=data.base_url,
        credentials=credentials,
        assistant_ids=data.assistant_ids,
    )
    return _read(row)


@router.post("/import", response_model=ImportRead, status_code=status.HTTP_202_ACCEPTED)
async def import_document(
    data: ImportCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> ImportRead:
    """Start an import from a URL (fetched through the SSRF-safe client) or a document in the body. The
    job parses and classifies every operation; follow it at `/api/v1/openapi/jobs/{id}`."""
    document = data.document.encode() if data.document is not None else None
    return await _create(session, settings, admin, data, document)


@router.post("/import/upload", response_model=ImportRead, status_code=status.HTTP_202_ACCEPTED)
async def upload_document(
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the OpenAPI / Swagger document, JSON or YAML")],
    name: Annotated[str | None, Form()] = None,
    base_url: Annotated[str | None, Form()] = None,
    credentials_kind: Annotated[str | None, Form()] = None,
    credentials_name: Annotated[str | None, Form()] = None,
    credentials_value: Annotated[str | None, Form()] = None,
) -> ImportRead:
    """The same as `/import`, from a file upload (multipart form)."""
    raw = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise BadRequest(f"the document is larger than {MAX_UPLOAD_BYTES:,} bytes", detail={"limit": MAX_UPLOAD_BYTES})
    fields: dict[str, Any] = {"name": name, "document": "", "base_url": base_url}
    if credentials_kind:
        fields["credentials"] = {"kind": credentials_kind, "name": credentials_name or "Authorization",
                                 "value": credentials_value or ""}  # fmt: skip
    try:
        data = ImportCreate.model_validate(fields)
        if data.credentials is not None:
            CredentialsIn.model_validate(data.credentials.model_dump())
    except ValidationError as exc:
        raise BadRequest(
            "invalid import fields", detail=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from None
    return await _create(session, settings, admin, data, raw)


@router.get("/jobs", response_model=list[ImportRead])
async def list_imports(_: StaffUser, session: SessionDep) -> list[ImportRead]:
    return [_read(row) for row in await ImportRepository(session).latest(500)]


async def _job(session: SessionDep, job_id: uuid.UUID, *, for_update: bool = False) -> OpenAPIImport:
    row = await ImportRepository(session).get(job_id, for_update=for_update)
    if row is None:
        raise ImportNotFound(detail={"id": str(job_id)})
    return row


@router.get("/jobs/{job_id}", response_model=ImportRead)
async def get_import(job_id: uuid.UUID, _: StaffUser, session: SessionDep) -> ImportRead:
    """The job's status: queued → review (or failed, with the reason in `error`) → approved."""
    return _read(await _job(session, job_id))


@router.get("/jobs/{job_id}/classifications", response_model=list[Classification])
async def list_classifications(job_id: uuid.UUID, _: StaffUser, session: SessionDep) -> list[Classification]:
    """One item per operation: its tool name, description, side effect (read / write / destructive, with
    the reason) and whether it is exposed."""
    row = await _job(session, job_id)
    return [Classification.model_validate(op, from_attributes=False) for op in _items(row)]


def _items(row: OpenAPIImport) -> list[dict[str, Any]]:
    keys = set(Classification.model_fields)
    return [{k: v for k, v in op.items() if k in keys} for op in row.operations or []]


@router.patch("/jobs/{job_id}/classifications/{index}", response_model=Classification)
@router.put("/jobs/{job_id}/classifications/{index}", response_model=Classification, include_in_schema=False)
async def edit_classification(
    job_id: uuid.UUID, index: int, data: ClassificationEdit, reviewer: StaffUser, session: SessionDep
) -> Classification:
    """Change an operation's side effect, description, tool name or whether it is exposed (before approval)."""
    row = await _job(session, job_id, for_update=True)
    if row.status != "review":
        raise NotInReview(detail={"status": row.status})
    operations = [dict(op) for op in row.operations]
    if not 0 <= index < len(operations):
        raise NotFound("No operation with this index", detail={"index": index, "operations": len(operations)})
    changes = data.model_dump(exclude_none=True)
    if "tool_name" in changes and any(
        op["tool_name"] == changes["tool_name"] for i, op in enumerate(operations) if i != index
    ):
        raise Conflict(
            "Another operation of this import has that tool name", detail={"tool_name": changes["tool_name"]}
        )
    operations[index].update(changes)
    if "side_effect" in changes:
        operations[index]["side_effect_reason"] = "set by a reviewer"
    row.operations = operations
    row.updated_at = datetime.now(UTC)
    await record(session, "openapi.classification_edited", "openapi_import", row.id, actor_id=reviewer.id,
                 index=index, changes=changes)  # fmt: skip
    return Classification.model_validate(_items(row)[index], from_attributes=False)


@router.post("/jobs/{job_id}/approve", response_model=ImportRead)
async def approve_import(
    job_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    graphs: GraphsDep,
    runtime: ToolRuntimeDep,
    data: ApproveImport | None = None,
) -> ImportRead:
    """Put the enabled operations live as tools, now, in every process; the chosen assistants get them
    (`openapi:<name>/*` joins their `tools`)."""
    row = await _job(session, job_id, for_update=True)
    if row.status != "review":
        raise NotInReview(detail={"status": row.status})
    assistant_ids = data.assistant_ids if data is not None and data.assistant_ids is not None else row.assistant_ids
    await imports_service.approve_import(session, graphs, admin, row, assistant_ids)
    await session.commit()
    await runtime.fresh_registry()
    return _read(row)


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_import(job_id: uuid.UUID, admin: AdminUser, session: SessionDep, runtime: ToolRuntimeDep) -> Response:
    """Remove the import; its tools go at once."""
    row = await _job(session, job_id, for_update=True)
    await ImportRepository(session).delete(row)
    await record(session, "openapi.deleted", "openapi_import", job_id, actor_id=admin.id, name=row.name)
    await session.commit()
    await runtime.fresh_registry()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

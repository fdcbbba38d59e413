"""Request side of attachments: the settings and service as dependencies, the bodies that carry files
(`POST /api/v1/feedback` as JSON or multipart, uploads to a task), their OpenAPI description, and the larger
body limit those uploads get (core/middleware.py)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_origin

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import Scope

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import LoopdeskError
from loopdesk.core.settings import AttachmentSettings, Settings
from loopdesk.feedback.attachments import AttachmentService
from loopdesk.feedback.schemas import FeedbackCreate
from loopdesk.feedback.uploads import MultipartForm, Upload, read_multipart

MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
_UPLOAD_PATH = re.compile(r"/api/v1/(?:feedback|(?:tasks|sessions)/[^/]+/attachments)/?")
_REPEATED = frozenset(name for name, spec in FeedbackCreate.model_fields.items() if get_origin(spec.annotation) is list)
_REQUIRED = frozenset(name for name, spec in FeedbackCreate.model_fields.items() if spec.is_required())


class UnsupportedMediaType(LoopdeskError):
    status_code, code, message = 415, "unsupported_media_type", "The request body's Content-Type is not accepted"


async def get_attachment_settings(settings: SettingsDep) -> AttachmentSettings:
    return settings.attachments


AttachmentSettingsDep = Annotated[AttachmentSettings, Depends(get_attachment_settings)]


async def _service(session: SessionDep, settings: AttachmentSettingsDep) -> AttachmentService:
    return AttachmentService(session, settings=settings)


AttachmentServiceDep = Annotated[AttachmentService, Depends(_service)]


def upload_body_limit(settings: Settings) -> Callable[[Scope], int | None]:
    """For BodySizeLimitMiddleware: multipart POSTs that carry attachments may be as large as their files."""

    def limit_for(scope: Scope) -> int | None:
        if scope.get("method") != "POST" or not _UPLOAD_PATH.fullmatch(scope.get("path", "")):
            return None
        content_type = next((value for name, value in scope.get("headers", ()) if name == b"content-type"), b"")
        if not content_type.lower().startswith(MULTIPART.encode()):
            return None
        return settings.attachments.upload_body_bytes

    return limit_for


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _problem(kind: str, name: str, message: str) -> dict[str, Any]:
    return {"type": kind, "loc": ("body", name), "msg": message, "input": None}


def _files_only(form: MultipartForm) -> list[dict[str, Any]]:
    return [
        _problem("extra_forbidden", u.field, "Files go in `file` parts") for u in form.files if u.field != FILE_FIELD
    ]


async def _read_form(request: Request, settings: AttachmentSettings) -> MultipartForm:
    return await read_multipart(request.headers, request.stream(), settings)


async def read_uploads(
    _user: CurrentUser, request: Request, settings: AttachmentSettingsDep
) -> AsyncIterator[list[Upload]]:
    """The checked `file` parts of a multipart body (the caller is authenticated before a byte is read)."""
    if _media_type(request) != MULTIPART:
        raise UnsupportedMediaType(detail={"accepted": [MULTIPART]})
    form = await _read_form(request, settings)
    try:
        problems = [_problem("extra_forbidden", name, "Only `file` parts are accepted") for name, _ in form.fields]
        problems += _files_only(form)
        if not form.files:
            problems.append(_problem("missing", FILE_FIELD, "At least one file is required"))
        if problems:
            raise RequestValidationError(problems)
        yield form.files
    finally:
        await form.aclose()


UploadsDep = Annotated[list[Upload], Depends(read_uploads)]


@dataclass(slots=True)
class FeedbackSubmission:
    data: FeedbackCreate
    files: list[Upload] = field(default_factory=list)


async def read_feedback_body(
    _user: CurrentUser, request: Request, settings: AttachmentSettingsDep
) -> AsyncIterator[FeedbackSubmission]:
    """A report as JSON (as before), or as a multipart form with the same fields and `file` parts."""
    media_type = _media_type(request)
    if media_type == MULTIPART:
        form = await _read_form(request, settings)
        try:
            yield FeedbackSubmission(_form_report(form), form.files)
        finally:
            await form.aclose()
        return
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(detail={"accepted": ["application/json", MULTIPART]})
    yield FeedbackSubmission(_json_report(await request.body()))


FeedbackBodyDep = Annotated[FeedbackSubmission, Depends(read_feedback_body)]


def _validated(value: Any) -> FeedbackCreate:
    try:
        return FeedbackCreate.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


def _json_report(body: bytes) -> FeedbackCreate:
    """As FastAPI reads a JSON body: 400 invalid_json when it does not parse, 422 naming each bad field."""
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        value = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are no Unicode text
        position = getattr(exc, "pos", 0)
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", position), "msg": "JSON decode error", "input": {}}]
        ) from None
    return _validated(value)


def _form_report(form: MultipartForm) -> FeedbackCreate:
    values: dict[str, Any] = {}
    seen: set[str] = set()
    problems = _files_only(form)
    for name, value in form.fields:
        if name in _REPEATED:
            values.setdefault(name, []).append(value)
        elif name not in FeedbackCreate.model_fields:
            problems.append(_problem("extra_forbidden", name, "Extra inputs are not permitted"))
        elif name in seen:
            problems.append(_problem("duplicate", name, "Give this field once"))
        else:
            seen.add(name)
            if value.strip() or name in _REQUIRED:  # a form's optional input left blank is not given
                values[name] = value
    if problems:
        raise RequestValidationError(problems)
    return _validated(values)


def _openapi_bodies() -> tuple[dict[str, Any], dict[str, Any]]:
    report = FeedbackCreate.model_json_schema()
    files = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "screenshots or log files, one `file` part each (allowed types and sizes: settings)",
    }
    form = {**report, "title": "FeedbackCreateForm", "properties": {**report["properties"], FILE_FIELD: files}}
    feedback = {"required": True, "content": {"application/json": {"schema": report}, MULTIPART: {"schema": form}}}
    uploads = {
        "type": "object",
        "title": "AttachmentUpload",
        "properties": {FILE_FIELD: {**files, "minItems": 1}},
        "required": [FILE_FIELD],
        "additionalProperties": False,
    }
    return {"requestBody": feedback}, {"requestBody": {"required": True, "content": {MULTIPART: {"schema": uploads}}}}


FEEDBACK_BODY, UPLOAD_BODY = _openapi_bodies()

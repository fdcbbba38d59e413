"""The sessions API's dependencies and error documentation, shared by its routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import error_body
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import GraphsDep, PersistenceDep
from loopdesk.sessions.service import SessionService


def error_response(code: str, message: str) -> dict[str, Any]:
    return {"description": message, "content": {"application/json": {"example": error_body(code, message)}}}


async def _service(
    request: Request, session: SessionDep, graphs: GraphsDep, persistence: PersistenceDep, settings: SettingsDep
) -> SessionService:
    return SessionService(session, graphs, persistence, settings, Authorizer(request))


ServiceDep = Annotated[SessionService, Depends(_service)]
NOT_FOUND = {404: error_response("session_not_found", "Session not found (or not yours)")}

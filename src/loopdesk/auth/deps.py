"""Who is calling: `X-API-Key`, `Authorization: Bearer <jwt or api key>`, or the console's cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer

from loopdesk.auth.credentials import Credential
from loopdesk.auth.service import AuthService, Principal
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import Forbidden, NotAuthenticated
from loopdesk.core.middleware import PLAIN_BODY_FLAG
from loopdesk.core.security import API_KEY_PREFIX
from loopdesk.core.settings import Settings
from loopdesk.users.models import Role, User

# Declared for the OpenAPI document (the "Authorize" button at /docs); parsing is done below.
_bearer = HTTPBearer(auto_error=False, description="JWT from /api/v1/auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_cookie = APIKeyCookie(name="loopdesk_session", auto_error=False)

_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _check_cookie_origin(request: Request, settings: Settings) -> None:
    """Cookie-authenticated writes must come from our own origin (or an allowed one): CSRF defence
    on top of SameSite=Lax. Non-browser clients send no Origin and are not affected, unless the body came
    as text/plain (a form or a no-preflight fetch could send it): then the origin must be shown."""
    if request.method not in _UNSAFE_METHODS:
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin and getattr(request.state, PLAIN_BODY_FLAG, False):
        raise Forbidden("A cookie-authenticated text/plain request must carry its Origin")
    if origin and not same_site(origin, request.headers.get("host"), settings):
        parts = urlsplit(origin)
        raise Forbidden("Cross-site request refused", detail={"origin": f"{parts.scheme}://{parts.netloc}"})


def same_site(origin: str, host: str | None, settings: Settings) -> bool:
    """Does a browser's Origin (or Referer) name this server, or an origin LOOPDESK_CORS_ORIGINS allows?"""
    parts = urlsplit(origin)
    return parts.netloc == host or f"{parts.scheme}://{parts.netloc}" in settings.server.allowed_origins


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _b: Annotated[object, Depends(_bearer)] = None,
    _k: Annotated[object, Depends(_api_key)] = None,
    _c: Annotated[object, Depends(_cookie)] = None,
) -> Principal:
    try:
        return await _loopdesk_principal(request, AuthService(session, settings), settings)
    except NotAuthenticated:
        # Not one of ours: a langgraph.json `@auth.authenticate` handler may vouch for the caller.
        custom = getattr(getattr(request.app.state, "graphs", None), "custom_auth", None)
        if custom is None or not custom.authenticates:
            raise
        return Principal(user=await custom.authenticate(request, session), method="bearer")


async def _loopdesk_principal(request: Request, service: AuthService, settings: Settings) -> Principal:
    if api_key := request.headers.get("x-api-key"):
        return await service.authenticate_api_key(api_key)
    if authorization := request.headers.get("authorization"):
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("Authorization header must be 'Bearer <token>'")
        if token.startswith(API_KEY_PREFIX):
            return await service.authenticate_api_key(token)
        return await service.authenticate_token(token, "bearer")
    if cookie := request.cookies.get(settings.auth.cookie_name):
        _check_cookie_origin(request, settings)
        return await service.authenticate_token(cookie, "cookie")
    raise NotAuthenticated()


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_staff_user(user: CurrentUser) -> User:
    if not user.is_staff:
        raise Forbidden("Staff or admin role required")
    return user


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise Forbidden("Admin role required")
    return user


StaffUser = Annotated[User, Depends(get_staff_user)]
AdminUser = Annotated[User, Depends(get_admin_user)]


async def get_credential(principal: CurrentPrincipal) -> Credential:
    """What the caller authenticated with, for what stays open on it (streams end when it is revoked)."""
    return Credential.of(principal)


CurrentCredential = Annotated[Credential, Depends(get_credential)]

"""Who opens a WebSocket: the HTTP rules of auth/deps.py for a handshake (`?token=` JWT or API key, the
`Authorization` / `X-API-Key` headers, or the console's cookie from our own origin), then a langgraph.json
`@auth.authenticate` handler."""

from __future__ import annotations

import contextlib

from fastapi import WebSocket

from loopdesk.auth.credentials import Credential
from loopdesk.auth.deps import same_site
from loopdesk.auth.service import AuthService
from loopdesk.core.errors import LoopdeskError, NotAuthenticated
from loopdesk.core.security import API_KEY_PREFIX
from loopdesk.users.models import User


class CrossSiteWebSocket(Exception):
    """A cookie-authenticated handshake from another site's page."""


async def authenticate_websocket(websocket: WebSocket) -> tuple[User, Credential] | None:
    """The caller of a WebSocket handshake and what it authenticated with (None: nobody we know)."""
    state = websocket.app.state
    settings = state.settings
    token = websocket.query_params.get("token") or websocket.headers.get("x-api-key")
    method = "bearer"
    if not token and (authorization := websocket.headers.get("authorization")):
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token and (cookie := websocket.cookies.get(settings.auth.cookie_name)):
        # Browsers send cookies with cross-site WebSocket handshakes: the origin must be ours.
        origin = websocket.headers.get("origin")
        if origin and not same_site(origin, websocket.headers.get("host"), settings):
            raise CrossSiteWebSocket
        token, method = cookie, "cookie"
    async with state.database.sessionmaker() as session, session.begin():
        service = AuthService(session, settings)
        try:
            if token and token.startswith(API_KEY_PREFIX):
                principal = await service.authenticate_api_key(token)
                return principal.user, Credential.of(principal)
            if token:
                principal = await service.authenticate_token(token, method)  # type: ignore[arg-type]
                return principal.user, Credential.of(principal)
        except NotAuthenticated:
            pass
        custom = getattr(state.graphs, "custom_auth", None)
        if custom is not None and custom.authenticates:
            with contextlib.suppress(LoopdeskError):
                user = await custom.authenticate(websocket, session)
                return user, Credential(user.id)
    return None

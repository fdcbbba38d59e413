"""langgraph.json `http.app`: a Starlette or FastAPI app whose routes are served beside loopdesk's, behind
loopdesk's authentication unless `enable_custom_route_auth` is false, documented in loopdesk's OpenAPI.

The app is not mounted under a catch-all: one route stands for all of its routes and matches only what they
match, so unknown paths still get loopdesk's 404 and loopdesk's own routes (listed first) keep their paths.
A matching request is handed to the whole app, so its middleware, exception handlers and lifespan apply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.schemas import SchemaGenerator
from starlette.types import ASGIApp, Receive, Scope, Send

from loopdesk.auth.deps import get_principal
from loopdesk.core.errors import LoopdeskError, error_body

# What a WebSocket of the custom app is closed with when its caller is not let in (as the gateway does).
WS_NOT_AUTHENTICATED = 4401


@dataclass
class CustomApp:
    app: Starlette
    source: str
    authenticated: bool = True


class _RequireLoopdeskAuth:
    """Lets a request through only with a credential loopdesk accepts (the same as the API's, custom auth
    included); the handler finds the caller's loopdesk user as `request.user`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A handshake is authenticated as the GET it is.
        request = Request({**scope, "type": "http", "method": scope.get("method", "GET")})
        loopdesk = request.app
        try:
            async with loopdesk.state.database.sessionmaker() as session, session.begin():
                principal = await get_principal(request, session, loopdesk.state.settings)
        except LoopdeskError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": WS_NOT_AUTHENTICATED, "reason": exc.message})
            else:
                body = error_body(exc.code, exc.message, jsonable_encoder(exc.detail))
                await JSONResponse(body, exc.status_code, headers=exc.headers)(scope, receive, send)
            return
        await self.app({**scope, "user": principal.user}, receive, send)


class CustomAppRoute(BaseRoute):
    """Matches what one of the custom app's routes matches; handles it with the whole app."""

    def __init__(self, custom: CustomApp):
        self.custom = custom
        self.app: ASGIApp = _RequireLoopdeskAuth(custom.app) if custom.authenticated else custom.app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        best: tuple[Match, Scope] = (Match.NONE, {})
        for route in self.custom.app.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {"route": route}  # the route's template labels the request's metrics
            if match is Match.PARTIAL and best[0] is Match.NONE:
                best = (Match.PARTIAL, {"route": route})
        return best

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The app routes again from the path: matching state from loopdesk's router is not passed on.
        scope = {key: value for key, value in scope.items() if key not in ("endpoint", "path_params", "route")}
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        return self.custom.app.url_path_for(name, **path_params)


def mount_custom_app(app: FastAPI, custom: CustomApp) -> None:
    """Serve `custom` beside `app`'s routes (after them), run its lifespan inside `app`'s, document its routes."""
    app.router.routes.append(CustomAppRoute(custom))
    app.router.lifespan_context = _with_lifespan(app.router.lifespan_context, custom.app)
    loopdesk_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = merge_openapi(loopdesk_openapi(), custom_openapi(custom))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_lifespan(
    outer: Callable[[Any], AbstractAsyncContextManager[Any]], custom: Starlette
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with outer(app) as state, custom.router.lifespan_context(custom) as custom_state:
            yield {**(state or {}), **(custom_state or {})} or None

    return lifespan


def custom_openapi(custom: CustomApp) -> dict[str, Any]:
    """The custom app's own document: FastAPI's, or one read from a Starlette app's docstrings (as
    LangGraph's server does); its operations require loopdesk's credentials when they are guarded."""
    if isinstance(custom.app, FastAPI):
        spec = custom.app.openapi()
    else:
        spec = SchemaGenerator({"openapi": "3.1.0", "info": {"title": custom.source, "version": "0"}}).get_schema(
            custom.app.routes
        )
    if custom.authenticated:
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.setdefault("security", _LOOPDESK_SECURITY)
    return spec


# The schemes loopdesk declares (auth/deps.py) under FastAPI's names for them.
_LOOPDESK_SECURITY = [{"HTTPBearer": []}, {"APIKeyHeader": []}, {"APIKeyCookie": []}]


def merge_openapi(loopdesk: dict[str, Any], custom: dict[str, Any]) -> dict[str, Any]:
    """loopdesk's document with the custom app's paths, components and tags added; on a path and method
    both declare, loopdesk's operation stays (its route is the one that answers)."""
    merged = {**loopdesk, "paths": dict(loopdesk.get("paths", {}))}
    for path, operations in custom.get("paths", {}).items():
        merged["paths"][path] = {**operations, **merged["paths"].get(path, {})}
    components = {kind: dict(items) for kind, items in loopdesk.get("components", {}).items()}
    for kind, items in custom.get("components", {}).items():
        components[kind] = {**items, **components.get(kind, {})}
    if components:
        merged["components"] = components
    names = {tag["name"] for tag in loopdesk.get("tags", [])}
    tags = [*loopdesk.get("tags", []), *(tag for tag in custom.get("tags", []) if tag["name"] not in names)]
    if tags:
        merged["tags"] = tags
    return merged

"""langgraph.json `auth.path`: an `Auth` object from `langgraph_sdk.auth`, honoured as the LangGraph
server does. `@auth.authenticate` admits callers loopdesk's own credentials do not (each identity
becomes a loopdesk user, provisioned on first sight, so ownership scoping applies unchanged);
`@auth.on` handlers allow, deny or filter (by metadata) each action on threads, runs, assistants,
crons and the store."""

from __future__ import annotations

import hashlib
import inspect
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import Request
from langgraph_sdk.auth import Auth
from langgraph_sdk.auth import exceptions as auth_exceptions
from langgraph_sdk.auth.types import AuthContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.errors import Forbidden, LoopdeskError, NotAuthenticated
from loopdesk.core.security import ahash_password
from loopdesk.users.models import Role, User

log = structlog.get_logger("loopdesk.custom_auth")

EXTERNAL_EMAIL_DOMAIN = "external.loopdesk.invalid"


@dataclass
class ExternalUser:
    """What `@auth.authenticate` returned, in the shape `@auth.on` handlers read (BaseUser)."""

    identity: str
    display_name: str
    permissions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    is_authenticated: bool = True

    def __getitem__(self, key: str) -> Any:
        return {**self.extra, "identity": self.identity, "display_name": self.display_name,
                "permissions": self.permissions}[key]  # fmt: skip

    def __contains__(self, key: str) -> bool:
        return key in ("identity", "display_name", "permissions") or key in self.extra

    def __iter__(self) -> Iterator[str]:
        return iter(("identity", "display_name", "permissions", *self.extra))


class _HTTPError(LoopdeskError):
    def __init__(self, status_code: int, message: str):
        self.status_code = status_code
        self.code = "not_authenticated" if status_code == 401 else ("forbidden" if status_code == 403 else "auth_error")
        super().__init__(message)


def _user_of(result: Any) -> ExternalUser:
    if isinstance(result, str) and result:
        return ExternalUser(identity=result, display_name=result)
    if isinstance(result, Mapping) and result.get("identity"):
        extra = {k: v for k, v in result.items() if k not in ("identity", "display_name", "permissions")}
        return ExternalUser(
            identity=str(result["identity"]),
            display_name=str(result.get("display_name") or result["identity"]),
            permissions=list(result.get("permissions") or []),
            extra=extra,
        )
    identity = getattr(result, "identity", None)
    if identity:
        return ExternalUser(
            identity=str(identity),
            display_name=str(getattr(result, "display_name", identity)),
            permissions=list(getattr(result, "permissions", []) or []),
        )
    raise NotAuthenticated("The authentication handler returned no identity")


def as_containment(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The same filter as a JSONB containment document (for searches)."""
    document: dict[str, Any] = {}
    for key, condition in filters.items():
        if isinstance(condition, Mapping) and "$contains" in condition:
            document[key] = [condition["$contains"]]
        elif isinstance(condition, Mapping) and "$eq" in condition:
            document[key] = condition["$eq"]
        else:
            document[key] = condition
    return document


def matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Does a resource's metadata satisfy an `@auth.on` filter ({key: value | {"$eq": v} | {"$contains": v}})?"""
    for key, condition in filters.items():
        actual = metadata.get(key)
        if isinstance(condition, Mapping) and "$contains" in condition:
            if not isinstance(actual, list) or condition["$contains"] not in actual:
                return False
        elif isinstance(condition, Mapping) and "$eq" in condition:
            if actual != condition["$eq"]:
                return False
        elif actual != condition:
            return False
    return True


class CustomAuth:
    def __init__(self, auth: Auth):
        self.auth = auth

    @property
    def authenticates(self) -> bool:
        return self.auth._authenticate_handler is not None

    async def authenticate(self, request: Request, session: AsyncSession) -> User:
        handler = self.auth._authenticate_handler
        if handler is None:
            raise NotAuthenticated()
        available = {
            "request": request,
            "authorization": request.headers.get("authorization"),
            "headers": {k.encode(): v.encode() for k, v in request.headers.items()},
            "method": getattr(request, "method", "GET"),  # a WebSocket handshake is a GET
            "path": request.url.path,
            "path_params": dict(request.path_params),
            "query_params": dict(request.query_params),
        }
        wanted = inspect.signature(handler).parameters
        try:
            result = handler(**{name: available.get(name) for name in wanted})
            if inspect.isawaitable(result):
                result = await result
        except auth_exceptions.HTTPException as exc:
            raise _HTTPError(exc.status_code, str(exc.detail or "Not authenticated")) from None
        except LoopdeskError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's handler failed: the caller is not authenticated
            log.warning("custom_auth.handler_failed", error=type(exc).__name__)
            raise NotAuthenticated() from None
        external = _user_of(result)
        user = await _provision(session, external)
        request.state.external_user = external
        return user

    def _handler(self, resource: str, action: str):  # type: ignore[no-untyped-def]
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
            if handlers.get(key):
                return handlers[key][-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    async def authorize(
        self, request: Request | None, user: User, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run the matching `@auth.on` handler: None (allowed), a metadata filter, or Forbidden. The
        handler may edit `value` in place (e.g. stamp `metadata.owner`)."""
        handler = self._handler(resource, action)
        if handler is None:
            return None
        external = getattr(request.state, "external_user", None) if request is not None else None
        if external is None:
            external = ExternalUser(identity=str(user.id), display_name=user.display_name, permissions=[])
        context = AuthContext(
            permissions=external.permissions,
            user=external,
            resource=resource,
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = handler(ctx=context, value=value)
            if inspect.isawaitable(result):
                result = await result
        except auth_exceptions.HTTPException as exc:
            raise _HTTPError(exc.status_code, str(exc.detail or "Forbidden")) from None
        if result is False:
            raise Forbidden(f"Not allowed to {action} {resource}")
        if isinstance(result, Mapping):
            return dict(result)
        return None


async def _provision(session: AsyncSession, external: ExternalUser) -> User:
    """The loopdesk user standing for an external identity (a customer, created on first sight)."""
    digest = hashlib.sha256(external.identity.encode()).hexdigest()[:32]
    email = f"{digest}@{EXTERNAL_EMAIL_DOMAIN}"
    user = await session.scalar(select(User).where(User.email == email))
    if user is not None:
        if not user.is_active:
            raise NotAuthenticated("Account disabled")
        return user
    user = User(
        id=uuid.uuid4(),
        email=email,
        display_name=external.display_name[:100],
        password_hash=await ahash_password(secrets.token_urlsafe(32)),  # never used: they log in through the handler
        role=Role.customer.value,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:  # provisioned concurrently
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
    log.info("custom_auth.user_provisioned", user_id=str(user.id))
    return user


class Authorizer:
    """The request's `@auth.on` gate, handed to the services (a no-op without custom auth)."""

    def __init__(self, request: Request | None = None):
        self.request = request
        graphs = getattr(request.app.state, "graphs", None) if request is not None else None
        self.custom: CustomAuth | None = getattr(graphs, "custom_auth", None)

    async def __call__(self, user: User, resource: str, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
        if self.custom is None:
            return None
        return await self.custom.authorize(self.request, user, resource, action, value)

    async def allows(
        self, user: User, resource: str, action: str, value: dict[str, Any], metadata: Mapping[str, Any]
    ) -> bool:
        """May `user` do `action` on this resource (whose metadata the handler's filter must match)?"""
        filters = await self(user, resource, action, value)
        return not filters or matches(metadata, filters)

    async def search_metadata(
        self, user: User, resource: str, metadata: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """A search's metadata containment, narrowed by the handler's filter."""
        filters = await self(user, resource, "search", {"metadata": metadata})
        return {**(metadata or {}), **as_containment(filters)} if filters else metadata

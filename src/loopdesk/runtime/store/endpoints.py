"""Agent Protocol: /store, long-term memory. Each user sees only their own namespaces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from langgraph.store.base import BaseStore

from loopdesk.auth.deps import CurrentUser
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.deps import PersistenceDep
from loopdesk.runtime.serde import to_jsonable
from loopdesk.runtime.store.schemas import NO_NUL, StoreDelete, StoreNamespaces, StorePut, StoreSearch
from loopdesk.runtime.store.scoped import ScopedStore
from loopdesk.users.models import Role

router = APIRouter(prefix="/store", tags=["store"])


async def user_store(persistence: PersistenceDep, user: CurrentUser) -> BaseStore:
    """A user's own space; admins get the whole store (each user's space under its `user:<id>` label)."""
    if user.role == Role.admin:
        return persistence.store
    return ScopedStore.for_owner(persistence.store, user.id)


StoreDep = Annotated[BaseStore, Depends(user_store)]


class StoreGate:
    """langgraph.json `@auth.on.store` handlers: they may refuse an operation or rewrite its namespace."""

    def __init__(self, request: Request, user: CurrentUser):
        self.authz = Authorizer(request)
        self.user = user

    async def __call__(self, action: str, **value: Any) -> dict[str, Any]:
        await self.authz(self.user, "store", action, value)
        value["namespace"] = tuple(value.get("namespace") or ())
        return value


async def _store_gate(request: Request, user: CurrentUser) -> StoreGate:
    return StoreGate(request, user)


GateDep = Annotated[StoreGate, Depends(_store_gate)]


def _item(item: Any) -> dict[str, Any]:
    data = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": to_jsonable(item.value),
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if getattr(item, "score", None) is not None:
        data["score"] = item.score
    return data


@router.put("/items", status_code=status.HTTP_204_NO_CONTENT)
async def put_item(data: StorePut, store: StoreDep, gate: GateDep) -> Response:
    """Create or replace an item; `ttl` in minutes."""
    index = False if data.index is False else (data.index if isinstance(data.index, list) else None)
    op = await gate("put", namespace=tuple(data.namespace), key=data.key, value=data.value, index=index)
    await store.aput(op["namespace"], data.key, op["value"], index=index, ttl=data.ttl)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/items")
async def get_item(
    store: StoreDep,
    gate: GateDep,
    key: Annotated[str, Query(min_length=1, max_length=500, pattern=NO_NUL)],
    namespace: Annotated[str, Query(max_length=4000, pattern=NO_NUL, description="labels joined by dots")] = "",
    refresh_ttl: bool | None = None,
) -> dict[str, Any] | None:
    """The item, or `null` when the caller's space holds none under that key (as LangGraph's server answers:
    the SDK's `get_item` then returns None)."""
    labels = tuple(label for label in namespace.split(".") if label)
    op = await gate("get", namespace=labels, key=key)
    item = await store.aget(op["namespace"], key, refresh_ttl=refresh_ttl)
    return None if item is None else _item(item)


@router.delete("/items", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(data: StoreDelete, store: StoreDep, gate: GateDep) -> Response:
    op = await gate("delete", namespace=tuple(data.namespace), key=data.key)
    await store.adelete(op["namespace"], data.key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/items/search")
async def search_items(data: StoreSearch, store: StoreDep, gate: GateDep) -> dict[str, list[dict[str, Any]]]:
    """Items under a namespace prefix, filtered by value fields; `query` ranks by meaning (store.index)."""
    op = await gate("search", namespace=tuple(data.namespace_prefix), filter=data.filter, query=data.query)
    items = await store.asearch(
        op["namespace"],
        filter=data.filter,
        limit=data.limit,
        offset=data.offset,
        query=data.query,
        refresh_ttl=data.refresh_ttl,
    )
    return {"items": [_item(item) for item in items]}


@router.post("/namespaces")
async def list_namespaces(data: StoreNamespaces, store: StoreDep, gate: GateDep) -> dict[str, list[list[str]]]:
    op = await gate("list_namespaces", namespace=tuple(data.prefix or ()), suffix=data.suffix, max_depth=data.max_depth)
    namespaces = await store.alist_namespaces(
        prefix=op["namespace"] or None,
        suffix=tuple(data.suffix) if data.suffix else None,
        max_depth=data.max_depth,
        limit=data.limit,
        offset=data.offset,
    )
    return {"namespaces": [list(ns) for ns in namespaces]}

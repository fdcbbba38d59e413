"""A small real shop API (FastAPI) for the OpenAPI source tests, served by uvicorn on 127.0.0.1.

Every route needs the API key (header `X-API-Key`, query `api_key` or a bearer token). Writes honour `Idempotency-Key`:
a repeated key answers the stored response without running the route again. `state.requests` records
what arrived, `state.executions` what actually ran."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal

import uvicorn
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, Response, Security
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

Status = Literal["open", "shipped", "refunded"]


class OrderIn(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = Field(default=1, ge=1)
    note: str | None = None


class Order(OrderIn):
    id: int
    status: Status = "open"
    notes: list[str] = []


class RefundIn(BaseModel):
    amount_cents: int = Field(ge=1)
    reason: str | None = None


class SearchIn(BaseModel):
    text: str


@dataclass
class ShopState:
    api_key: str
    orders: dict[int, Order] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    replies: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)


def presented_key(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    return (
        request.headers.get("x-api-key")
        or request.query_params.get("api_key")
        or (bearer[7:] if bearer.startswith("Bearer ") else None)
    )


def create_app(api_key: str) -> tuple[FastAPI, ShopState]:
    state = ShopState(api_key)
    state.orders[1] = Order(id=1, item="blue widget", quantity=2)
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False)
    query_key = APIKeyQuery(name="api_key", auto_error=False)
    bearer_token = HTTPBearer(auto_error=False)

    def authenticated(
        header: str | None = Security(header_key),
        query: str | None = Security(query_key),
        bearer: HTTPAuthorizationCredentials | None = Security(bearer_token),
    ) -> None:
        if api_key not in (header, query, bearer.credentials if bearer else None):
            raise HTTPException(401, "missing or wrong API key")

    app = FastAPI(title="Shop", version="1.2.0", dependencies=[Depends(authenticated)])

    @app.middleware("http")
    async def idempotency(request: Request, call_next):
        key = request.headers.get("idempotency-key")
        state.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "idempotency_key": key,
                "api_key": presented_key(request),
            }
        )
        if request.method == "GET" or not key or presented_key(request) != api_key:
            return await call_next(request)
        if key in state.replies:
            status, body, media = state.replies[key]
            return Response(body, status_code=status, media_type=media)
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])
        if response.status_code < 500:
            state.replies[key] = (response.status_code, body, response.headers.get("content-type", ""))
        return Response(body, status_code=response.status_code, headers=dict(response.headers))

    def find(order_id: int) -> Order:
        if order_id not in state.orders:
            raise HTTPException(404, f"order {order_id} not found")
        return state.orders[order_id]

    @app.get("/orders/{order_id}", operation_id="get_order", summary="Get one order")
    def get_order(order_id: int) -> Order:
        return find(order_id)

    @app.get("/orders", operation_id="list_orders", summary="List orders, optionally by status")
    def list_orders(status: Status | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Order]:
        return [o for o in state.orders.values() if status is None or o.status == status][:limit]

    @app.post("/orders", operation_id="create_order", summary="Create an order", status_code=201)
    def create_order(order: OrderIn) -> Order:
        state.executions.append("create_order")
        created = Order(id=max(state.orders, default=0) + 1, **order.model_dump())
        state.orders[created.id] = created
        return created

    @app.post("/orders/{order_id}/refund", operation_id="refund_order", summary="Refund an order")
    def refund_order(order_id: int, refund: RefundIn) -> Order:
        state.executions.append("refund_order")
        order = find(order_id)
        order.status = "refunded"
        return order

    @app.post("/orders/{order_id}/notes", operation_id="add_note", summary="Add a note to an order")
    def add_note(order_id: int, text: Annotated[str, Form(min_length=1)]) -> Order:
        state.executions.append("add_note")
        order = find(order_id)
        order.notes.append(text)
        return order

    @app.delete("/orders/{order_id}", operation_id="delete_order", summary="Delete an order", status_code=204)
    def delete_order(order_id: int) -> None:
        state.executions.append("delete_order")
        find(order_id)
        del state.orders[order_id]

    @app.post("/search", operation_id="search_orders", summary="Search orders by item text")
    def search_orders(query: SearchIn) -> list[Order]:
        return [o for o in state.orders.values() if query.text.lower() in o.item.lower()]

    @app.get("/products/{sku}", operation_id="get_product", summary="Get a product by SKU")
    def get_product(sku: str) -> dict:
        return {"sku": sku, "name": f"product {sku}"}

    @app.get("/go", operation_id="follow_link", summary="Redirect to a link")
    def follow_link(to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=307)

    @app.get("/reports/{report_id}", operation_id="get_report", summary="Get a report (this one never answers)")
    async def get_report(report_id: str) -> dict:
        await asyncio.sleep(60)
        return {}

    return app, state


@dataclass
class Shop:
    url: str
    state: ShopState


@contextmanager
def serve_shop(api_key: str) -> Iterator[Shop]:
    """The shop on a free port of 127.0.0.1, in a thread with its own event loop."""
    app, state = create_app(api_key)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="shop-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the shop API did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Shop(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(10)

"""The OpenAPI source against a real FastAPI shop on 127.0.0.1, imported from its own /openapi.json."""

from __future__ import annotations

import io
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import orjson
import pytest

from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import LoggingSettings
from loopdesk.tools.base import ToolNotFound, ToolUnavailable
from loopdesk.tools.net import OutboundPolicy, safe_client
from loopdesk.tools.openapi import (
    Credentials,
    OpenAPISource,
    ParsedSpec,
    SpecError,
    fetch_document,
    load_document,
    parse_operations,
)
from tests.tools.conformance import ToolSourceConformance, context
from tests.tools.openapi.shop_api import Shop, serve_shop

API_KEY = "shop-" + secrets.token_hex(16)
LOOPBACK = OutboundPolicy.from_allowlist(["127.0.0.1"])
HEADER_KEY = Credentials("header", "X-API-Key", API_KEY)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with serve_shop(API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
async def imported(shop: Shop) -> ParsedSpec:
    async with safe_client(LOOPBACK) as client:
        raw = await fetch_document(f"{shop.url}/openapi.json", client)
    return await parse_operations(load_document(raw), source_url=f"{shop.url}/openapi.json")


def make_source(spec: ParsedSpec, **options) -> OpenAPISource:
    options = {"policy": LOOPBACK, "credentials": HEADER_KEY, "timeout": 10.0} | options
    base_url = options.pop("base_url", spec.base_url)
    operations = options.pop("operations", spec.operations)
    return OpenAPISource("shop", base_url, operations, **options)


@pytest.fixture
async def source(imported: ParsedSpec) -> AsyncIterator[OpenAPISource]:
    started = make_source(imported)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def sample_call():
    return "get_order", {"order_id": 1}, "blue widget"


@pytest.fixture
def failing_call():
    return "get_order", {"order_id": 999_999}


class TestOpenAPISourceConformance(ToolSourceConformance):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the import


async def test_the_shop_imports_with_its_side_effects(shop: Shop, imported: ParsedSpec, source: OpenAPISource):
    assert (imported.title, imported.version, imported.spec_version) == ("Shop", "1.2.0", "3.1")
    assert imported.base_url == shop.url and imported.warnings == []
    assert {"kind": "header", "name": "X-API-Key", "scheme": "APIKeyHeader"} in imported.auth_hints
    specs = {spec.name: spec for spec in source.tools()}
    assert {name: spec.side_effect for name, spec in specs.items()} == {
        "get_order": "read",
        "delete_order": "destructive",
        "list_orders": "read",
        "create_order": "write",
        "refund_order": "destructive",
        "add_note": "write",
        "search_orders": "read",
        "get_product": "read",
        "follow_link": "read",
        "get_report": "read",
    }
    assert specs["refund_order"].metadata == {"method": "POST", "path": "/orders/{order_id}/refund"}
    assert specs["get_order"].description == "Get one order"
    assert specs["create_order"].parameters["required"] == ["body"]


async def test_disabled_operations_are_not_tools(imported: ParsedSpec):
    operations = [replace(op, enabled=op.tool_name != "delete_order") for op in imported.operations]
    source = make_source(imported, operations=operations)
    assert "delete_order" not in {spec.name for spec in source.tools()}
    with pytest.raises(ToolNotFound):
        await source.call("delete_order", {"order_id": 1}, context())
    await source.close()


# ---------------------------------------------------------------- requests


async def test_arguments_become_path_query_json_and_form(shop: Shop, imported: ParsedSpec):
    stored = ParsedSpec.from_dict(orjson.loads(orjson.dumps(imported.to_dict())))  # as kept in a JSONB column
    source = make_source(stored)
    try:
        product = await source.call("get_product", {"sku": "blue shirt?#1&x=2 %41"}, context())
        assert product.content == {"sku": "blue shirt?#1&x=2 %41", "name": "product blue shirt?#1&x=2 %41"}

        listed = await source.call("list_orders", {"status": "open", "limit": 1}, context())
        assert not listed.is_error and len(listed.content) == 1
        assert shop.state.requests[-1]["query"] == "status=open&limit=1"

        created = await source.call("create_order", {"body": {"item": "green gadget", "quantity": 3}}, context())
        assert created.content["item"] == "green gadget" and created.content["quantity"] == 3
        noted = await source.call("add_note", {"order_id": created.content["id"], "body": {"text": "a & b"}}, context())
        assert noted.content["notes"] == ["a & b"]  # form-encoded
        found = await source.call("search_orders", {"body": {"text": "GADGET"}}, context())
        assert [order["id"] for order in found.content] == [created.content["id"]]
        deleted = await source.call("delete_order", {"order_id": created.content["id"]}, context())
        assert deleted.content == "HTTP 204 (no content)"
    finally:
        await source.close()


async def test_bad_arguments_are_results_and_send_nothing(shop: Shop, source: OpenAPISource):
    before = len(shop.state.requests)
    for name, arguments, message in [
        ("get_product", {"sku": ".."}, "cannot be '..'"),
        ("get_product", {}, "missing path parameter 'sku'"),
        ("create_order", {}, "missing request body 'body'"),
    ]:
        result = await source.call(name, arguments, context())
        assert result.is_error and message in result.text()
    assert len(shop.state.requests) == before


async def test_http_errors_are_results_with_the_body(source: OpenAPISource):
    missing = await source.call("get_order", {"order_id": 424242}, context())
    assert missing.is_error and missing.text() == 'HTTP 404: {"detail":"order 424242 not found"}'
    invalid = await source.call("create_order", {"body": {"item": "x", "quantity": 0}}, context())
    assert invalid.is_error and invalid.text().startswith("HTTP 422: ") and "quantity" in invalid.text()
    assert source.health().status == "ok"


async def test_large_responses_are_truncated_or_refused(imported: ParsedSpec):
    short = make_source(imported, max_result_chars=40)
    result = await short.call("get_order", {"order_id": 1}, context())
    assert not result.is_error and result.content.startswith('{"item":"blue widget"')
    assert "(truncated: " in result.content and len(result.content) < 100
    await short.close()
    tiny = make_source(imported, max_response_bytes=50)
    refused = await tiny.call("list_orders", {}, context())
    assert refused.is_error and refused.text() == "refused: the response is larger than 50 bytes"
    assert tiny.health().status == "ok"
    await tiny.close()


# ---------------------------------------------------------------- idempotency


async def test_writes_carry_the_idempotency_key_and_a_repeat_runs_once(shop: Shop, source: OpenAPISource):
    call = context()
    runs = shop.state.executions.count("create_order")
    first = await source.call("create_order", {"body": {"item": "retried"}}, call)
    again = await source.call("create_order", {"body": {"item": "retried"}}, call)
    assert not first.is_error and again.content == first.content
    assert shop.state.executions.count("create_order") == runs + 1  # the retry was answered, not run
    assert [r["idempotency_key"] for r in shop.state.requests[-2:]] == [call.idempotency_key] * 2

    other = await source.call("create_order", {"body": {"item": "retried"}}, context())
    assert other.content["id"] != first.content["id"]
    assert shop.state.executions.count("create_order") == runs + 2

    refund = context()
    order_id = first.content["id"]
    for _ in range(2):
        refunded = await source.call("refund_order", {"order_id": order_id, "body": {"amount_cents": 500}}, refund)
        assert refunded.content["status"] == "refunded"
    assert shop.state.executions.count("refund_order") == 1
    assert shop.state.requests[-1]["idempotency_key"] == refund.idempotency_key

    await source.call("get_order", {"order_id": 1}, call)
    await source.call("search_orders", {"body": {"text": "x"}}, call)
    assert [r["idempotency_key"] for r in shop.state.requests[-2:]] == [None, None]  # reads carry none


# ---------------------------------------------------------------- credentials


async def test_every_kind_of_credentials_reaches_the_server(shop: Shop, imported: ParsedSpec):
    for credentials in (HEADER_KEY, Credentials("query", "api_key", API_KEY), Credentials("bearer", value=API_KEY)):
        source = make_source(imported, credentials=credentials)
        result = await source.call("get_order", {"order_id": 1}, context())
        assert not result.is_error, (credentials.kind, result.text())
        assert shop.state.requests[-1]["api_key"] == API_KEY
        await source.close()
    anonymous = make_source(imported, credentials=None)
    refused = await anonymous.call("get_order", {"order_id": 1}, context())
    assert refused.is_error and refused.text().startswith("HTTP 401")
    await anonymous.close()


async def test_credentials_never_show_in_repr_or_logs(shop: Shop, imported: ParsedSpec):
    sources = [
        make_source(imported, credentials=Credentials("query", "api_key", API_KEY)),
        make_source(imported, credentials=Credentials("bearer", value=API_KEY)),
    ]
    down = make_source(imported, base_url=f"http://127.0.0.1:{free_port()}")
    stream = io.StringIO()
    configure_logging(LoggingSettings(log_format="json", log_level="DEBUG", _env_file=None), stream=stream)
    for noisy in ("httpx", "httpcore"):  # configure_logging quiets them; here they must speak
        logging.getLogger(noisy).setLevel(logging.DEBUG)
    try:
        for source in sources:
            assert not (await source.call("list_orders", {"status": "open"}, context())).is_error
        with pytest.raises(ToolUnavailable):
            await down.call("get_order", {"order_id": 1}, context())
    finally:
        configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
        for source in [*sources, down]:
            await source.close()
    logged = stream.getvalue()
    assert "openapi.unavailable" in logged  # our own line was captured
    assert f"HTTP Request: GET {shop.url}/orders?status=open" in logged  # and httpx's request line
    assert "send_request_headers" in logged  # and httpcore's
    assert API_KEY not in logged
    for text in (repr(sources[0]), str(sources[1]), repr(HEADER_KEY), str(HEADER_KEY), repr(down)):
        assert API_KEY not in text
    assert "auth='query'" in repr(sources[0])


async def test_credentials_do_not_follow_a_redirect_to_another_origin(shop: Shop, source: OpenAPISource):
    same = await source.call("follow_link", {"to": "/orders/1"}, context())
    assert not same.is_error and same.content["item"] == "blue widget"  # same origin: the key still sent
    with serve_shop(API_KEY) as elsewhere:
        moved = await source.call("follow_link", {"to": f"{elsewhere.url}/orders/1"}, context())
        assert moved.is_error and moved.text().startswith("HTTP 401")
        assert [r["api_key"] for r in elsewhere.state.requests] == [None]


async def test_a_parameter_that_carries_the_credentials_is_filled_by_the_source(shop: Shop):
    document = {
        "swagger": "2.0",
        "info": {"title": "Shop by hand", "version": "1"},
        "paths": {
            "/orders/{order_id}": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": [
                        {"name": "order_id", "in": "path", "required": True, "type": "integer"},
                        {"name": "X-API-Key", "in": "header", "required": True, "type": "string"},
                    ],
                }
            }
        },
    }
    spec = await parse_operations(document, source_url=f"{shop.url}/swagger.json")
    assert spec.base_url == shop.url
    source = make_source(spec)
    (tool,) = source.tools()
    assert tool.parameters["required"] == ["order_id"] and "X-API-Key" not in tool.parameters["properties"]
    result = await source.call("getOrder", {"order_id": 1, "X-API-Key": "from the model"}, context())
    assert not result.is_error and shop.state.requests[-1]["api_key"] == API_KEY
    await source.close()
    unauthenticated = make_source(spec, credentials=None)
    assert unauthenticated.tools()[0].parameters["required"] == ["order_id", "X-API-Key"]


async def test_base_url_with_credentials_is_refused(imported: ParsedSpec):
    with pytest.raises(ValueError, match="must not carry credentials"):
        make_source(imported, base_url="http://user:secret@127.0.0.1:1")
    with pytest.raises(ValueError, match="http"):
        make_source(imported, base_url="ftp://127.0.0.1")


# ---------------------------------------------------------------- refusals and failures


async def test_loopback_is_refused_without_the_allow_list(shop: Shop, imported: ParsedSpec):
    before = len(shop.state.requests)
    source = make_source(imported, policy=OutboundPolicy())
    result = await source.call("get_order", {"order_id": 1}, context())
    assert result.is_error and result.text().startswith("refused: 127.0.0.1 resolves to a private")
    assert source.health().status == "ok"  # a refusal is not an outage
    await source.close()
    async with safe_client(OutboundPolicy()) as client:
        with pytest.raises(SpecError, match="^refused: 127.0.0.1 resolves to a private"):
            await fetch_document(f"{shop.url}/openapi.json", client)
    assert len(shop.state.requests) == before


async def test_a_server_url_at_the_metadata_address_is_refused(shop: Shop):
    async with safe_client(LOOPBACK) as client:
        document = load_document(await fetch_document(f"{shop.url}/openapi.json", client))
    document["servers"] = [{"url": "http://169.254.169.254/latest"}]
    spec = await parse_operations(document, source_url=f"{shop.url}/openapi.json")
    assert spec.base_url == "http://169.254.169.254/latest"
    source = make_source(spec)
    started = time.monotonic()
    result = await source.call("list_orders", {}, context())
    assert result.is_error and result.text().startswith("refused: 169.254.169.254 resolves to a private")
    assert time.monotonic() - started < 2
    await source.close()


async def test_a_hanging_endpoint_is_unavailable_within_the_timeout(imported: ParsedSpec):
    # 2 s: the call that follows must answer within the same limit on a machine busy with the rest of the suite.
    source = make_source(imported, timeout=2)
    await source.start()
    started = time.monotonic()
    with pytest.raises(ToolUnavailable, match="timed out after 2s"):
        await source.call("get_report", {"report_id": "q3"}, context())
    assert time.monotonic() - started < 4
    health = source.health()
    assert health.status == "unavailable" and "GET /reports/{report_id} timed out" in health.detail
    assert not (await source.call("get_order", {"order_id": 1}, context())).is_error
    assert source.health().status == "ok"  # reachable again
    await source.close()


async def test_a_server_that_is_down_is_unavailable(imported: ParsedSpec):
    source = make_source(imported, base_url=f"http://127.0.0.1:{free_port()}")
    await source.start()
    assert source.health().status == "ok"  # start does no I/O
    with pytest.raises(ToolUnavailable, match="ConnectError"):
        await source.call("get_order", {"order_id": 1}, context())
    assert source.health().status == "unavailable"
    await source.close()

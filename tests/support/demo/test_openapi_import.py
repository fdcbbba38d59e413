"""Each demo backend's OpenAPI document goes through loopdesk's real importer: every operation is documented,
the test-only endpoints stay hidden, lookups are reads and every POST changes something."""

from __future__ import annotations

import asyncio
import json

import pytest

from loopdesk.support.demo import BACKENDS, openapi_document

# The tool names the importer gives (the support templates refer to them) and their side effects.
EXPECTED = {
    "ecommerce": {
        "getOrder": "read", "listOrders": "read", "listRefunds": "read", "getCoupon": "read",
        "cancelOrder": "destructive", "createRefund": "destructive", "applyCoupon": "write",
    },
    "saas": {
        "getAccount": "read", "listAccounts": "read", "listPlans": "read", "listInvoices": "read",
        "getInvoice": "read", "changePlan": "write", "setSeats": "write",
    },
    "fintech": {
        "getCard": "read", "listCards": "read", "listTransactions": "read", "getDispute": "read",
        "freezeCard": "write", "unfreezeCard": "write", "createDispute": "write",
    },
}  # fmt: skip


@pytest.fixture
def settings(settings):
    settings.outbound.net_allowlist = "127.0.0.1"  # the demo backends' base URLs
    return settings


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_operation_has_an_id_a_summary_a_description_and_described_fields(name):
    document = openapi_document(name)
    assert not {"/_faults", "/_audit", "/_reset", "/healthz"} & set(document["paths"])
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert {op["operationId"] for op in operations} == set(EXPECTED[name])
    for op in operations:
        assert op["summary"] and op["description"], op["operationId"]
        assert all(p.get("description") for p in op.get("parameters", [])), op["operationId"]
    for schema_name, schema in document["components"]["schemas"].items():
        if schema_name not in ("ValidationError", "HTTPValidationError"):
            undocumented = [f for f, prop in schema.get("properties", {}).items() if not prop.get("description")]
            assert undocumented == [], (schema_name, undocumented)


async def _import(client, admin, body: dict) -> dict:
    response = await client.post("/api/v1/openapi/import", json=body, headers=admin.headers)
    assert response.status_code == 202, response.text
    job = response.json()
    for _ in range(300):
        job = (await client.get(f"/api/v1/openapi/jobs/{job['id']}", headers=admin.headers)).json()
        if job["status"] != "queued":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"import still queued: {job}")


@pytest.mark.parametrize("name", sorted(BACKENDS))
async def test_the_document_imports_with_reads_and_writes_classified(client, admin, name):
    base_url = f"http://127.0.0.1:{BACKENDS[name].port}"
    document = json.dumps(openapi_document(name))
    job = await _import(client, admin, {"name": f"demo-{name}", "document": document, "base_url": base_url})
    assert (job["status"], job["base_url"]) == ("review", base_url), job

    items = (await client.get(f"/api/v1/openapi/jobs/{job['id']}/classifications", headers=admin.headers)).json()
    assert {item["tool_name"]: item["side_effect"] for item in items} == EXPECTED[name]
    for item in items:
        assert (item["side_effect"] == "read") == (item["method"] == "GET"), item
        assert item["enabled"] and item["description"], item

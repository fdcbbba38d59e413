"""langgraph.json `http.app`: custom routes beside the Agent Protocol, on an app of their own (the suite's
langgraph.json has none, so the authorization matrix's route set is unchanged)."""

from pathlib import Path

import pytest
from langgraph_sdk import get_client

from loopdesk.core.settings import RuntimeSettings, Settings
from tests.conftest import assert_error

GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture
def graphs_config() -> Path:
    return GRAPHS / "custom_routes.json"


@pytest.fixture
def settings(settings: Settings, graphs_config: Path) -> Settings:
    return settings.model_copy(update={"runtime": RuntimeSettings(graphs_config=graphs_config, _env_file=None)})


async def test_custom_routes_answer_signed_in_callers_only(client, make_account):
    assert_error(await client.get("/hello/ada"), 401, "not_authenticated")
    assert_error(await client.get("/hello/ada", headers={"Authorization": "Bearer nonsense"}), 401)
    account = await make_account("ada")
    response = await client.get("/hello/ada", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"hello": "ada", "caller": account.email, "started": True}  # its lifespan ran


async def test_the_sdk_reaches_custom_routes_with_its_credentials(server_url, make_account):
    account = await make_account("sdk")
    client = get_client(url=server_url, api_key=None, headers=account.headers)
    assert await client.http.get("/hello/sdk") == {"hello": "sdk", "caller": account.email, "started": True}


async def test_loopdesk_routes_keep_their_paths_and_unknown_paths_their_404(client):
    assert (await client.get("/ok")).json() == {"ok": True}
    assert_error(await client.get("/hello"), 404, "not_found")
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")


async def test_custom_routes_are_in_the_openapi_document_behind_loopdesks_credentials(client):
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/hello/{name}"]["get"]
    assert operation["summary"] == "Hello" and operation["tags"] == ["custom"]
    assert {"HTTPBearer": []} in operation["security"]
    assert set(operation["security"][0]) <= set(document["components"]["securitySchemes"])
    assert "/threads" in document["paths"] and "custom" not in str(document["paths"]["/ok"])


@pytest.mark.parametrize("graphs_config", [GRAPHS / "custom_routes_open.json"])
async def test_enable_custom_route_auth_false_leaves_the_custom_routes_open(client):
    response = await client.get("/hello/anyone")
    assert response.status_code == 200, response.text
    assert response.json() == {"hello": "anyone", "caller": None, "started": True}
    assert_error(await client.post("/threads/search", json={}), 401)  # loopdesk's own routes stay guarded
    document = (await client.get("/openapi.json")).json()
    assert "security" not in document["paths"]["/hello/{name}"]["get"]

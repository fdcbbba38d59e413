"""The agent set over HTTP: staff read it with each agent's bound tools; an admin replaces it (checked first: a
problem is a 422 naming the line) or reloads LOOPDESK_SUPPORT_AGENTS_FILE; a bad set never replaces a good one."""

from __future__ import annotations

import pytest

from loopdesk.core.settings import Settings

READ_AGENT_WITH_A_WRITE = """\
agents:
  - name: orders
    description: Looks orders up.
    tools: [getOrder, cancelOrder]
    permission: read
"""

ONE_AGENT = """\
agents:
  - name: desk
    description: Everything about orders.
    tools: ["openapi:shop/*"]
    permission: write
"""


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    settings.support.support_agents_file = tmp_path / "agents.yaml"
    settings.support.support_agents_file.write_text(ONE_AGENT)  # checked at start: it must be there and valid
    return settings


async def test_staff_read_the_agents_in_force_with_their_tools(client, make_account, admin, shop):
    staff = await make_account("desk", role="staff")
    agents = (await client.get("/api/v1/support/agents", headers=staff.headers)).json()
    bound = {a["name"]: set(a["bound_tools"]) for a in agents["agents"]}
    assert bound["orders"] == {"getOrder", "listOrders", "listRefunds"}  # a read agent: reads only
    assert "cancelOrder" in bound["order_changes"] and agents["intents_model"] == "ecommerce"


async def test_a_bad_set_is_refused_with_its_line_and_the_good_one_stays(client, admin, shop):
    before = (await client.get("/api/v1/support/agents", headers=admin.headers)).json()
    refused = await client.put(
        "/api/v1/support/agents", json={"document": READ_AGENT_WITH_A_WRITE}, headers=admin.headers
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_agents" and error["detail"]["line"] == 4 and "cancelOrder" in error["message"]
    assert (await client.get("/api/v1/support/agents", headers=admin.headers)).json()["id"] == before["id"]

    broken = await client.put("/api/v1/support/agents", json={"document": "agents: [\n"}, headers=admin.headers)
    assert broken.status_code == 422 and "YAML" in broken.json()["error"]["message"]


async def test_an_admin_replaces_and_reloads_the_set(client, admin, settings, shop):
    replaced = await client.put("/api/v1/support/agents", json={"document": ONE_AGENT}, headers=admin.headers)
    assert replaced.status_code == 200, replaced.text
    assert [a["name"] for a in replaced.json()["agents"]] == ["desk"]

    path = settings.support.support_agents_file
    path.write_text(READ_AGENT_WITH_A_WRITE)
    bad = await client.post("/api/v1/support/agents/reload", headers=admin.headers)
    assert bad.status_code == 422 and str(path) in bad.json()["error"]["message"]
    path.write_text(ONE_AGENT.replace("desk", "frontline"))
    reloaded = await client.post("/api/v1/support/agents/reload", headers=admin.headers)
    assert reloaded.status_code == 200 and [a["name"] for a in reloaded.json()["agents"]] == ["frontline"]


async def test_the_service_does_not_start_on_a_bad_agents_file(settings):
    from asgi_lifespan import LifespanManager

    from loopdesk.app import create_app
    from loopdesk.support.agents import AgentsConfigError

    settings.support.support_agents_file.write_text(ONE_AGENT + "  - name: desk\n    description: twice\n")
    with pytest.raises(AgentsConfigError) as refused:
        async with LifespanManager(create_app(settings), startup_timeout=30):
            pass
    assert str(settings.support.support_agents_file) in str(refused.value) and "line 6" in str(refused.value)

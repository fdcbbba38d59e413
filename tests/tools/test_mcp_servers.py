"""MCP servers registered over the API: a real third-party server (mcp-server-time, its own venv)
joins the registry at once, the agent calls its tools, and unregistering stops it. A server that
cannot start is listed unavailable with the reason, and nothing else breaks."""

from __future__ import annotations

import json

from tests.conftest import assert_error
from tests.tools.agents import make_agent, say, start_thread, tool_messages
from tests.tools.mcp.servers import MCP_TIME

SECRET = "tz-secret-value-123"


async def test_register_use_and_remove_a_real_mcp_server(client, admin, make_account, app):
    body = {"name": "time", "transport": "stdio", "command": str(MCP_TIME), "env": {"TIME_TOKEN": SECRET}}
    created = await client.post("/api/v1/mcp-servers", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["status"] == "ok", server
    assert "time_get_current_time" in server["tools"]
    assert SECRET not in json.dumps(server) and server["config"]["env"] == {"TIME_TOKEN": "***"}

    customer = await make_account("timely")
    tools = {t["name"]: t for t in (await client.get("/api/v1/tools", headers=customer.headers)).json()}
    assert tools["time_get_current_time"]["source"] == "mcp" and tools["time_get_current_time"]["available"]

    turns = [
        {"tool_calls": [{"name": "time_get_current_time", "args": {"timezone": "Asia/Shanghai"}}]},
        {"content": "That is the time in Shanghai."},
    ]
    assistant = await make_agent(client, None, turns, tools=["mcp:time/*"])
    thread = await start_thread(client, customer.headers)
    [tool] = tool_messages(await say(client, customer.headers, thread, assistant, "what time is it in Shanghai"))
    assert "Asia/Shanghai" in tool["content"] and tool["status"] == "success"

    source = app.state.tools.registry.sources()["mcp:time"]
    pid = source.pid
    assert (await client.delete("/api/v1/mcp-servers/time", headers=admin.headers)).status_code == 204
    assert "time_get_current_time" not in {
        t["name"] for t in (await client.get("/api/v1/tools", headers=admin.headers)).json()
    }
    import os

    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the server process was stopped"


async def test_a_server_that_cannot_start_is_listed_unavailable(client, admin):
    body = {"name": "ghost", "transport": "stdio", "command": "/nonexistent/mcp-server"}
    created = await client.post("/api/v1/mcp-servers", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "unavailable" and created.json()["status_detail"]
    listed = await client.get("/api/v1/mcp-servers", headers=admin.headers)
    assert [s["name"] for s in listed.json()] == ["ghost"]
    assert (await client.get("/api/v1/tools", headers=admin.headers)).status_code == 200


async def test_registration_is_for_admins_and_checked(client, admin, make_account):
    staff = await make_account("staff", role="staff")
    body = {"name": "x", "transport": "stdio", "command": "true"}
    assert_error(await client.post("/api/v1/mcp-servers", json=body, headers=staff.headers), 403)
    bad = await client.post("/api/v1/mcp-servers", json={"name": "x", "transport": "http"}, headers=admin.headers)
    assert_error(bad, 422)
    bad = await client.post(
        "/api/v1/mcp-servers", json={"name": "Bad Name", "transport": "stdio", "command": "x"}, headers=admin.headers
    )
    assert_error(bad, 422)
    assert_error(await client.delete("/api/v1/mcp-servers/nope", headers=admin.headers), 404)


async def test_servers_listed_in_the_config_file_are_served(tmp_path, database_url):
    import yaml

    from loopdesk.core.db import Database
    from loopdesk.tools.setup import start_tools, stop_tools
    from tests.conftest import Settings

    servers = tmp_path / "mcp.yaml"
    servers.write_text(yaml.safe_dump([{"name": "clock", "transport": "stdio", "command": str(MCP_TIME)}]))
    settings = Settings()
    settings.tools.mcp_servers_file = servers
    database = Database.connect(database_url, pool_size=2, max_overflow=0)
    runtime = await start_tools(database, settings)
    try:
        assert "clock_get_current_time" in {spec.name for spec in runtime.registry.specs()}
        assert runtime.registry.sources()["mcp:clock"].health().status == "ok"
    finally:
        await stop_tools(runtime)
        await database.dispose()

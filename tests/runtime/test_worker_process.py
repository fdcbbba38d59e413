"""`serve`'s worker as a child process (LOOPDESK_WORKER_PROCESS): a real `loopdesk worker` executes the API's
runs, and it stops when the API stops."""

from __future__ import annotations

import asyncio

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from loopdesk.app import create_app
from loopdesk.core.settings import OutboundSettings, Settings
from loopdesk.runtime.worker_process import child_environment
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, register_account


async def test_a_worker_child_process_executes_the_api_s_runs_and_stops_with_it(settings: Settings) -> None:
    app = create_app(settings, worker_process=True)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            account = await register_account(http, "child")
            response = await asyncio.wait_for(  # only the child executes runs here: the API has no worker
                http.post(
                    "/runs/wait", json={"assistant_id": "echo", "input": {"messages": ["hi"]}}, headers=account.headers
                ),
                timeout=60,
            )
            assert response.status_code == 200, response.text
            assert response.json()["messages"] == ["hi", "echo: hi"]
            # The run was counted in the child; the API's /metrics includes the child's metrics, labelled.
            admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
            scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        finished = {
            (s.labels.get("process"), s.labels["graph_id"], s.labels["status"]): s.value
            for s in families["loopdesk_runs_finished"].samples
            if s.name.endswith("_total")
        }
        assert finished[("worker", "echo", "success")] == 1.0
        assert any(s.labels.get("process") is None for s in families["loopdesk_http_requests"].samples)
        assert app.state.worker_process.poll() is None  # running
    assert app.state.worker_process.poll() is not None  # stopped with the app
    assert not app.state.worker_metrics_socket.exists()  # the child removed its socket
    assert app.state.worker_process.returncode == 0  # gracefully: SIGTERM, runs handed back, exit 0


def test_the_child_reaches_what_the_parent_let_outbound_http_reach(settings: Settings, monkeypatch) -> None:
    """The support demo's backend is allowed at start-up, not by the environment: the child must allow it too
    (without it the demo's tools were refused in the child: '127.0.0.1 resolves to a private address')."""
    monkeypatch.delenv("LOOPDESK_OUTBOUND_ALLOWLIST", raising=False)
    settings.outbound.outbound_allowlist.append("127.0.0.1:8101")
    environment = child_environment(settings, "postgresql://db.example/loopdesk")
    monkeypatch.setenv("LOOPDESK_OUTBOUND_ALLOWLIST", environment["LOOPDESK_OUTBOUND_ALLOWLIST"])
    child = OutboundSettings()
    assert "127.0.0.1:8101" in child.allowlist
    assert environment["LOOPDESK_DATABASE_URL"] == "postgresql://db.example/loopdesk"

"""Issue 18's acceptance run, on real processes: `serve --no-worker` and `loopdesk worker`s on one database, a
local SMTP server and a local webhook. A Chinese and an English bug report with screenshots are classified,
analysed against a planted incident in the log store, routed to the right team and person, reviewed, worked,
verified (the English one fails verification once) and closed through the REST API, with their notifications
delivered over the WebSocket, by e-mail and to the webhook; a duplicate joins the first report; a worker killed
while the workflows run loses nothing and does nothing twice; the SLA job warns and escalates a task left alone."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from loopdesk.triage.sla import sla_targets
from tests.e2e.test_serve import _free_port
from tests.e2e.test_workers import _healthy, _spawn, _stop_all
from tests.notifications.servers import http_endpoint, smtp_server
from tests.realtime.wsclient import WS

pytestmark = pytest.mark.e2e  # slow: `make test-e2e`

ADMIN = {"email": "ops@example.com", "password": "ops-password-123456"}
PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ZH = {"title": "支付时一直提示网关超时", "description": "今天下单支付时一直失败，提示支付网关超时，重试也不行。"}
EN = {
    "title": "Payment fails with a gateway timeout",
    "description": "Paying for my order fails: payment gateway timeout.",
}


def _line(at: datetime, level: str, module: str, message: str) -> dict:
    return {"ts": at.isoformat(), "level": level, "module": module, "msg": message}


def _planted_incident(now: datetime) -> bytes:
    """Six quiet hours of `payments` and `search`, then ten minutes of gateway timeouts in payments just now."""
    lines = []
    for minute in range(360, 15, -1):
        at = now - timedelta(minutes=minute)
        lines.append(_line(at, "info", "payments", f"payment captured in {40 + minute % 30} ms"))
        lines.append(_line(at, "info", "search", f"query took {10 + minute % 7} ms"))
    for second in range(0, 600, 5):
        at = now - timedelta(minutes=14) + timedelta(seconds=second)
        lines.append(_line(at, "error", "payments", f"Payment gateway timeout after 3000 ms (order o-{second})"))
    return b"\n".join(json.dumps(line).encode() for line in lines)


async def _account(http: httpx.AsyncClient, admin: dict, name: str, role: str = "customer") -> dict:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    made = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name})
    assert made.status_code == 201, made.text
    if role != "customer":
        assert (await http.patch(f"/api/v1/users/{made.json()['id']}", json={"role": role}, headers=admin)).is_success
    token = (await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).json()["access_token"]
    return {"id": made.json()["id"], "email": email, "token": token, "h": {"Authorization": f"Bearer {token}"}}


async def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


async def _until(http: httpx.AsyncClient, who: dict, task_id: str, stage: str, within: float = 60) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        task = await _ok(await http.get(f"/api/v1/tasks/{task_id}", headers=who["h"]))
        if task["workflow_stage"] == stage or asyncio.get_running_loop().time() > deadline:
            assert task["workflow_stage"] == stage, task
            return task
        await asyncio.sleep(0.2)


async def _events(http: httpx.AsyncClient, who: dict, task_id: str) -> list[dict]:
    return await _ok(await http.get(f"/api/v1/tasks/{task_id}/timeline", headers=who["h"]))


async def test_two_reports_go_round_the_loop_with_every_notification_delivered(database_url, tmp_path):
    async with smtp_server() as smtp, http_endpoint() as hook:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "LOOPDESK_ADMIN_EMAIL": ADMIN["email"],
            "LOOPDESK_ADMIN_PASSWORD": ADMIN["password"],
            "LOOPDESK_SMTP_HOST": "127.0.0.1",
            "LOOPDESK_SMTP_PORT": str(smtp.port),
            "LOOPDESK_SMTP_SECURITY": "none",
            "LOOPDESK_NET_ALLOWLIST": "127.0.0.1",
            "LOOPDESK_NOTIFICATION_SWEEP_SECONDS": "1",
            "LOOPDESK_SLA_CHECK_INTERVAL_SECONDS": "1",
            "LOOPDESK_FEEDBACK_MODULE_KEYWORDS": '{"支付": "payments"}',
        }
        api = _spawn(tmp_path / "api.log", database_url, "serve", "--no-worker", "--port", str(port), env=env)
        processes = [api]
        try:
            await _healthy(base, api, tmp_path / "api.log")
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                login = await _ok(await http.post("/api/v1/auth/login", json=ADMIN))
                admin = {"Authorization": f"Bearer {login['access_token']}"}
                lead = await _account(http, admin, "lead", "staff")
                cn, en = await _account(http, admin, "wang", "staff"), await _account(http, admin, "smith", "staff")
                teams = {}
                for name, region, member, zone in (
                    ("Payments CN", "domestic", cn, "Asia/Shanghai"),
                    ("Payments Intl", "international", en, "Europe/London"),
                ):
                    body = {
                        "name": name,
                        "region": region,
                        "lead_id": lead["id"],
                        "members": [{"user_id": member["id"], "skills": ["payment"], "timezone": zone}],
                    }
                    teams[region] = await _ok(await http.post("/api/v1/teams", json=body, headers=admin), 201)
                rules = [
                    {"module": "payments", "region": region, "team_id": team["id"], "skill": "payment"}
                    for region, team in teams.items()
                ]
                await _ok(await http.put("/api/v1/routing-rules", json=rules, headers=admin))
                channel = {"name": "ops-hook", "kind": "webhook", "config": {"url": f"{hook.url}/loopdesk"}}
                await _ok(await http.put("/api/v1/notification-channels", json=[channel], headers=admin))
                ingested = await http.post(
                    "/api/v1/logs/ingest",
                    content=_planted_incident(datetime.now(UTC)),
                    headers={**admin, "Content-Type": "application/x-ndjson"},
                )
                assert (await _ok(ingested))["rejected"] == 0

                alice, bob, carol = [await _account(http, admin, n) for n in ("alice", "bob", "carol")]
                sockets = {who["id"]: await WS.open(base, who["token"]) for who in (alice, bob)}
                reports = {}
                for who, body in ((alice, ZH), (bob, EN)):
                    files = {"file": ("screenshot.png", PNG, "image/png")}
                    made = await http.post("/api/v1/feedback", data=body, files=files, headers=who["h"])
                    reports[who["id"]] = (await _ok(made, 201))["task"]
                zh_task, en_task = reports[alice["id"]], reports[bob["id"]]
                assert (zh_task["region"], en_task["region"]) == ("domestic", "international")
                # A near-duplicate of Bob's report joins it instead of opening a task.
                joined = await _ok(await http.post("/api/v1/feedback", json=EN, headers=carol["h"]))
                assert joined["linked"] and joined["task"]["id"] == en_task["id"]
                assert joined["task"]["reporter_count"] == 2

                # No worker yet: the workflows wait in the queue. One starts and is killed mid-way.
                first = _spawn(tmp_path / "worker1.log", database_url, "worker", env=env)
                processes.append(first)
                with psycopg.connect(database_url, autocommit=True) as conn:
                    for _ in range(3000):  # killed while a workflow run is under way
                        if conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]:
                            break
                        await asyncio.sleep(0.01)
                    else:
                        raise AssertionError("no workflow run started")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
                processes.append(_spawn(tmp_path / "worker2.log", database_url, "worker", env=env))

                for task, member, region in ((zh_task, cn, "domestic"), (en_task, en, "international")):
                    review = await _until(http, lead, task["id"], "plan_review")
                    assert (review["team_id"], review["assignee_id"]) == (teams[region]["id"], member["id"])
                    analysis = review["log_analysis"]
                    assert "payments" in analysis["modules"] and analysis["related_logs_count"] > 0, analysis
                    assert analysis["anomaly_patterns"], analysis  # the planted burst
                    assert any("gateway timeout" in p["template"].lower() for p in analysis["log_patterns"])

                for task, member in ((zh_task, cn), (en_task, en)):
                    url = f"/api/v1/tasks/{task['id']}"
                    await _ok(await http.post(f"{url}/review", json={"action": "approve"}, headers=lead["h"]))
                    await _ok(await http.post(f"{url}/progress", json={"done": False}, headers=member["h"]))
                    await _ok(await http.post(f"{url}/progress", json={"done": True}, headers=member["h"]))
                    await _until(http, member, task["id"], "verification")
                failed = await http.post(
                    f"/api/v1/tasks/{en_task['id']}/verify", json={"result": "fail"}, headers=bob["h"]
                )
                assert (await _ok(failed))["workflow_stage"] == "in_progress"
                await _ok(
                    await http.post(f"/api/v1/tasks/{en_task['id']}/progress", json={"done": True}, headers=en["h"])
                )
                await _until(http, bob, en_task["id"], "verification")
                for task, reporter in ((zh_task, alice), (en_task, bob)):
                    closed = await http.post(
                        f"/api/v1/tasks/{task['id']}/verify", json={"result": "pass"}, headers=reporter["h"]
                    )
                    assert (await _ok(closed))["workflow_stage"] == "closed"

                # Every step on each timeline, each once despite the killed worker.
                for task, extra in ((zh_task, []), (en_task, ["in_progress", "resolved", "verification"])):
                    events = await _events(http, lead, task["id"])
                    stages = [e["to_value"] for e in events if e["kind"] in ("created", "stage")]
                    assert stages == [
                        "received", "classified", "analyzed", "routed", "plan_review", "assigned",
                        "in_progress", "resolved", "verification", *extra, "closed",
                    ]  # fmt: skip
                    assert {"attachment_added", "team", "assignee", "plan", "progress"} <= {e["kind"] for e in events}

                # Every delivery sent: WebSocket, e-mail, the webhook.
                for task in (zh_task, en_task):
                    deadline = asyncio.get_running_loop().time() + 60
                    while True:
                        page = await _ok(
                            await http.get(
                                "/api/v1/notifications/deliveries",
                                params={"task_id": task["id"], "limit": 200},
                                headers=lead["h"],
                            )
                        )
                        statuses = {d["status"] for d in page["items"]}
                        if statuses == {"sent"} or asyncio.get_running_loop().time() > deadline:
                            break
                        await asyncio.sleep(0.5)
                    assert statuses == {"sent"}, page["items"]
                    assert {"websocket", "email", "webhook"} <= {d["kind"] for d in page["items"]}
                mailed = {r for mail in smtp.mails for r in mail.recipients}
                assert {alice["email"], bob["email"], carol["email"], cn["email"], en["email"]} <= mailed
                assert any("关闭" in mail.message["Subject"] or "closed" in mail.text for mail in smtp.mails)
                posted = {r.json["task"]["number"] for r in hook.requests}
                assert {zh_task["task_number"], en_task["task_number"]} <= posted
                for who, task in ((alice, zh_task), (bob, en_task)):
                    socket = sockets[who["id"]]
                    while not any(
                        f.get("task_id") == task["id"] and f.get("kind") == "stage:closed" for f in socket.received
                    ):
                        await socket.recv(within=30)
                    await socket.close()

                # A task left alone: its clock is moved back past 80 % of the stage's limit, then past it.
                alone = await _ok(
                    await http.post(
                        "/api/v1/feedback",
                        json={"title": "Refund page shows a blank screen", "description": "The refund page is blank."},
                        headers=alice["h"],
                    ),
                    201,
                )
                task = await _until(http, lead, alone["task"]["id"], "plan_review")
                limit = sla_targets(task["priority_level"], "plan_review", start=datetime.now(UTC)).stage_duration
                for fraction, kind in ((0.85, "sla_warning"), (1.6, "sla_escalated")):
                    with psycopg.connect(database_url, autocommit=True) as conn:
                        conn.execute(
                            "UPDATE tasks SET stage_entered_at = now() - %s, first_response_at = now() WHERE id = %s",
                            (limit * fraction, task["id"]),
                        )
                    deadline = asyncio.get_running_loop().time() + 30
                    while not any(e["kind"] == kind for e in await _events(http, lead, task["id"])):
                        assert asyncio.get_running_loop().time() < deadline, f"no {kind}"
                        await asyncio.sleep(0.5)
                escalated = [e for e in await _events(http, lead, task["id"]) if e["kind"] == "sla_escalated"]
                assert escalated and int(escalated[-1]["to_value"]) >= 2  # past the assignee: the team lead was told
        finally:
            _stop_all(processes)
    assert "worker.run_recovered" in (tmp_path / "worker2.log").read_text()  # the killed worker's run, taken up
    for log in ("api.log", "worker2.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text, text[-5000:]

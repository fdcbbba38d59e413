"""The domain metrics on a real app and a real PostgreSQL: state made through the API and the services shows in
/metrics after one refresh of the database gauges; events (decisions, model calls, deliveries) are counted where
they happen; the pool gauges follow the app's engine; a family that cannot be read keeps its values and counts the
failure; and every loopdesk metric follows Prometheus' naming conventions."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.feedback.models import Task
from loopdesk.feedback.sla_job import check_sla
from loopdesk.llm.factory import build_chat_model
from loopdesk.notifications.outbox import Outbox
from loopdesk.notifications.service import notify
from loopdesk.system.metrics_state import FAMILIES, POOL, StateGauges
from loopdesk.tools.net import OutboundPolicy
from loopdesk.users.models import User
from tests.tools.agents import make_agent
from tests.tools.conftest import PLUGINS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
UUID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.tools.plugins_dir = PLUGINS
    # One dollar per token: the cost counter must equal the tokens counted beside it.
    settings.llm.llm_prices = {"scripted": (1_000_000.0, 1_000_000.0)}
    return settings


async def scrape(client: httpx.AsyncClient, token: str) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def gauge(samples: Samples, name: str, **labels: str) -> float:
    """A series that must be there (a gauge is exported at 0, never left out)."""
    return samples[(name, frozenset(labels.items()))]


def count(samples: Samples, name: str, **labels: str) -> float:
    """A counter's value; 0 before its first event."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def refreshed(app) -> None:
    assert await app.state.state_gauges.refresh() == set()


async def run_status(client: httpx.AsyncClient, headers, thread_id: str, run_id: str) -> str:
    response = await client.get(f"/threads/{thread_id}/runs/{run_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def until(predicate, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_runs_in_flight_and_the_queue_depth_come_from_the_database(client, app, admin, make_account):
    account = await make_account("runner")
    thread_id = (await client.post("/threads", json={}, headers=account.headers)).json()["thread_id"]
    body = {"assistant_id": "slow", "input": {"steps": [], "delay": 30}, "multitask_strategy": "enqueue"}
    runs = []
    try:
        first = await client.post(f"/threads/{thread_id}/runs", json=body, headers=account.headers)
        assert first.status_code == 200, first.text
        runs.append(first.json()["run_id"])

        async def running() -> bool:
            return await run_status(client, account.headers, thread_id, runs[0]) == "running"

        await until(running)
        for _ in range(2):  # behind the running one on the same thread
            queued = await client.post(f"/threads/{thread_id}/runs", json=body, headers=account.headers)
            runs.append(queued.json()["run_id"])

        await refreshed(app)
        samples = await scrape(client, admin.token)
        assert gauge(samples, "loopdesk_runs_inflight", status="running") == 1
        assert gauge(samples, "loopdesk_runs_inflight", status="pending") == 2
        assert gauge(samples, "loopdesk_run_queue_depth") == 2
        assert 0 < gauge(samples, "loopdesk_run_queue_oldest_age_seconds") < 60
    finally:
        for run_id in runs:
            await client.post(f"/threads/{thread_id}/runs/{run_id}/cancel", headers=account.headers)

    await refreshed(app)
    samples = await scrape(client, admin.token)
    assert gauge(samples, "loopdesk_runs_inflight", status="running") == 0
    assert gauge(samples, "loopdesk_runs_inflight", status="pending") == 0
    assert gauge(samples, "loopdesk_run_queue_depth") == 0
    assert gauge(samples, "loopdesk_run_queue_oldest_age_seconds") == 0


REFUND = [
    {"tool_calls": [{"name": "refund_order", "args": {"order_id": "ORD-1", "amount": 5}}]},
    {"content": "All done."},
]


async def test_sessions_approvals_and_the_agents_model_calls(client, app, admin, make_account):
    before = await scrape(client, admin.token)
    customer = await make_account("shopper")
    assistant = await make_agent(client, None, REFUND, tools=["refund_order"])
    sessions = []
    for _ in range(3):
        created = await client.post("/api/v1/sessions", json={"assistant_id": assistant}, headers=customer.headers)
        assert created.status_code == 201, created.text
        sessions.append(created.json()["session_id"])
    waiting, fresh, stale = sessions
    executed = await client.post(
        f"/api/v1/sessions/{waiting}/execute", json={"message": "refund ORD-1 please"}, headers=customer.headers
    )
    assert executed.status_code == 200, executed.text
    [approval] = executed.json()["pending_approvals"]
    # Two days without activity: past the 30-minute expiry and the 15-minute activity window.
    async with app.state.database.sessionmaker() as db, db.begin():
        old = datetime.now(UTC) - timedelta(days=2)
        await db.execute(text("UPDATE threads SET updated_at = :at WHERE thread_id = :id"), {"at": old, "id": stale})
        await db.execute(
            text("UPDATE user_sessions SET last_activity_at = :at WHERE session_id = :id"), {"at": old, "id": stale}
        )

    await refreshed(app)
    samples = await scrape(client, admin.token)
    assert gauge(samples, "loopdesk_sessions_active", status="interrupted") == 1
    assert gauge(samples, "loopdesk_sessions_active", status="idle") == 1  # `fresh`; `stale` expired
    assert gauge(samples, "loopdesk_sessions_active", status="running") == 0
    assert gauge(samples, "loopdesk_approvals_pending") == 1
    assert gauge(samples, "loopdesk_approvals_pending_overdue") == 0
    assert gauge(samples, "loopdesk_approvals_pending_oldest_age_seconds") > 0

    decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
    assert decided.status_code == 200, decided.text

    async def settled() -> bool:
        read = await client.get(f"/api/v1/sessions/{waiting}", headers=customer.headers)
        return read.json()["status"] == "idle"

    await until(settled)
    await refreshed(app)
    after = await scrape(client, admin.token)
    assert gauge(after, "loopdesk_approvals_pending") == 0
    assert gauge(after, "loopdesk_approvals_pending_oldest_age_seconds") == 0
    assert gauge(after, "loopdesk_sessions_active", status="interrupted") == 0
    assert gauge(after, "loopdesk_sessions_active", status="idle") == 2

    def delta(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    assert delta("loopdesk_approvals_total", decision="approved") == 1
    assert delta("loopdesk_approval_decision_seconds_count", decision="approved") == 1
    assert delta("loopdesk_approval_decision_seconds_bucket", decision="approved", le="+Inf") == 1
    # The scripted model answered twice: the tool call, then after the approval "All done.".
    assert delta("loopdesk_llm_calls_total", provider="scripted") == 2
    assert delta("loopdesk_llm_request_duration_seconds_count", provider="scripted") == 2
    assert delta("loopdesk_llm_errors_total", provider="scripted", kind="fatal") == 0
    tokens = delta("loopdesk_llm_tokens_total", provider="scripted", direction="input") + delta(
        "loopdesk_llm_tokens_total", provider="scripted", direction="output"
    )
    assert tokens > 0
    assert delta("loopdesk_llm_cost_usd_total", provider="scripted") == pytest.approx(tokens)


def person(name: str, *, role: str = "customer") -> User:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    return User(id=uuid.uuid4(), email=email, display_name=name, password_hash="!", role=role)


async def add_task(db, reporter: uuid.UUID, assignee: uuid.UUID, stage: str, **fields: Any) -> None:
    now = datetime.now(UTC)
    db.add(
        Task(
            id=uuid.uuid4(),
            task_number=f"FB-2026-{uuid.uuid4().int % 10**9:09d}",
            title="Checkout fails",
            description="Paying by card fails.",
            issue_type="bug",
            source_channel="web",
            region="international",
            priority_level="P2",
            reporter_id=reporter,
            assignee_id=assignee,
            workflow_stage=stage,
            **{"stage_entered_at": now, "first_response_at": now, "created_at": now, **fields},
        )
    )


async def test_open_tasks_by_stage_and_their_sla(client, app, admin, settings):
    database = app.state.database
    now = datetime.now(UTC)
    async with database.sessionmaker() as db, db.begin():
        reporter, assignee = person("reporter"), person("assignee", role="staff")
        db.add_all([reporter, assignee])
        await db.flush()
        await add_task(db, reporter.id, assignee.id, "assigned")
        # P2 at plan_review has 24 h: 20 h used is at risk (warned at 80 %), 30 h is past the due (escalated).
        await add_task(db, reporter.id, assignee.id, "plan_review", stage_entered_at=now - timedelta(hours=20))
        await add_task(db, reporter.id, assignee.id, "plan_review", stage_entered_at=now - timedelta(hours=30))
        await add_task(db, reporter.id, assignee.id, "in_progress", sla_deadline=now - timedelta(hours=1))
        await add_task(db, reporter.id, assignee.id, "closed")
    report = await check_sla(database, config=settings.feedback_sla)
    assert (report.warned, report.escalated) == (1, 1)

    await refreshed(app)
    samples = await scrape(client, admin.token)
    opened = {stage: gauge(samples, "loopdesk_tasks_open", stage=stage) for stage in ("assigned", "plan_review")}
    assert opened == {"assigned": 1, "plan_review": 2}
    assert gauge(samples, "loopdesk_tasks_open", stage="in_progress") == 1
    assert ("loopdesk_tasks_open", frozenset({("stage", "closed")})) not in samples
    assert gauge(samples, "loopdesk_tasks_sla_at_risk", stage="plan_review") == 1
    assert gauge(samples, "loopdesk_tasks_sla_breached", stage="plan_review") == 1
    assert gauge(samples, "loopdesk_tasks_sla_breached", stage="in_progress") == 1  # past its resolution deadline
    assert gauge(samples, "loopdesk_tasks_sla_at_risk", stage="in_progress") == 0
    assert gauge(samples, "loopdesk_tasks_sla_at_risk", stage="assigned") == 0
    assert gauge(samples, "loopdesk_tasks_sla_breached", stage="assigned") == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestNotifications:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.runtime.worker = False  # the test sends: no worker races it for the rows
        settings.outbound.outbound_allowlist = ["127.0.0.1"]
        settings.notifications.smtp_host = "127.0.0.1"
        settings.notifications.smtp_port = closed_port()  # nothing listens: every send fails, retryably
        settings.notifications.smtp_security = "none"
        settings.notifications.notification_max_attempts = 2
        return settings

    async def test_deliveries_pending_and_attempts_by_kind_and_outcome(self, client, app, admin, settings):
        database = app.state.database
        before = await scrape(client, admin.token)
        async with database.sessionmaker() as db, db.begin():
            someone = person("someone")
            db.add(someone)
            await db.flush()
            task = Task(
                id=uuid.uuid4(),
                task_number=f"FB-2026-{uuid.uuid4().int % 10**9:09d}",
                title="Refund missing",
                description="No refund yet.",
                source_channel="web",
                region="international",
                reporter_id=someone.id,
                workflow_stage="plan_review",
            )
            db.add(task)
            await db.flush()
            pending = await notify(
                db, task, event="stage:plan_review", event_id=None, users=[someone.id], data={"stage": "plan_review"}
            )
        assert len(pending) == 1  # the e-mail; the WebSocket row is sent as it is written

        await refreshed(app)
        samples = await scrape(client, admin.token)
        assert gauge(samples, "loopdesk_notification_deliveries_pending", kind="email") == 1
        assert gauge(samples, "loopdesk_notification_deliveries_pending", kind="websocket") == 0

        outbox = Outbox(database, settings)
        assert await outbox.send(pending) == 1  # refused: pending again, for a later attempt
        assert await outbox.sweep(now=datetime.now(UTC) + timedelta(days=1)) == 1  # the last attempt: failed

        await refreshed(app)
        after = await scrape(client, admin.token)
        assert gauge(after, "loopdesk_notification_deliveries_pending", kind="email") == 0

        def delta(kind: str, outcome: str) -> float:
            name = "loopdesk_notification_deliveries_total"
            return count(after, name, kind=kind, outcome=outcome) - count(before, name, kind=kind, outcome=outcome)

        assert (delta("email", "retry"), delta("email", "failed"), delta("email", "sent")) == (1, 1, 0)
        assert delta("websocket", "sent") == 1


class FakeProvider:
    """An OpenAI-compatible server on 127.0.0.1 answering each request with the next status of its plan."""

    def __init__(self, plan: list[int]) -> None:
        self.plan = list(plan)
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = provider.plan.pop(0)
                if status == 200:
                    payload: dict[str, Any] = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                    }
                else:
                    payload = {"error": {"message": f"status {status}", "type": "invalid_request_error"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider([200, 400, 503])
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


async def test_model_calls_latency_and_errors_by_provider(client, admin, settings, provider):
    before = await scrape(client, admin.token)
    spec = {"provider": "vllm", "model": "stub", "base_url": provider.url, "max_retries": 0}
    model = build_chat_model(spec, settings.llm, policy=OutboundPolicy.from_allowlist(["127.0.0.1"]))
    assert (await model.ainvoke("ping")).content == "pong"
    with pytest.raises(Exception, match="400"):
        await model.ainvoke("ping")
    with pytest.raises(Exception, match="503"):
        await model.bind_tools([]).ainvoke("ping")  # through a binding too
    after = await scrape(client, admin.token)

    def delta(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    assert delta("loopdesk_llm_calls_total", provider="vllm") == 3
    assert delta("loopdesk_llm_errors_total", provider="vllm", kind="fatal") == 1
    assert delta("loopdesk_llm_errors_total", provider="vllm", kind="retryable") == 1
    assert delta("loopdesk_llm_request_duration_seconds_count", provider="vllm") == 1  # answered calls only
    assert delta("loopdesk_llm_request_duration_seconds_sum", provider="vllm") > 0


class TestPool:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.runtime.worker = False  # nothing else in the process checks connections out meanwhile
        return settings

    async def test_pool_gauges_follow_the_apps_engine(self, client, app, admin, settings):
        await app.state.state_gauges.stop()  # no refresh holds a connection meanwhile
        POOL.attach(app.state.database.engine, 20)
        idle = await scrape(client, admin.token)
        assert gauge(idle, "loopdesk_db_pool_connections_max") == 20
        async with app.state.database.engine.connect() as one, app.state.database.engine.connect() as two:
            await one.execute(text("SELECT 1"))
            await two.execute(text("SELECT 1"))
            held = await scrape(client, admin.token)
        released = await scrape(client, admin.token)
        in_use = [gauge(s, "loopdesk_db_pool_connections_in_use") for s in (idle, held, released)]
        assert in_use[1] == in_use[0] + 2 and in_use[2] == in_use[0]
        assert gauge(held, "loopdesk_db_pool_connections_free") == 20 - in_use[1]


async def test_a_family_that_cannot_be_read_keeps_its_values_and_counts_the_failure(client, app, admin, database_url):
    await app.state.state_gauges.stop()  # only this test's refresher reads meanwhile
    gauges = StateGauges(app.state.database, 20, timeout_ms=300)
    assert await gauges.refresh() == set()
    before = await scrape(client, admin.token)
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE approvals IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        assert await gauges.refresh() == {"approvals"}
        after = await scrape(client, admin.token)
    assert await gauges.refresh() == set()

    def refreshed_at(samples: Samples, family: str) -> float:
        return gauge(samples, "loopdesk_state_refreshed_timestamp_seconds", family=family)

    assert refreshed_at(after, "approvals") == refreshed_at(before, "approvals")
    assert all(
        refreshed_at(after, family) > refreshed_at(before, family) for family in FAMILIES if family != "approvals"
    )
    errors = "loopdesk_state_refresh_errors_total"
    assert count(after, errors, family="approvals") - count(before, errors, family="approvals") == 1
    assert count(after, errors, family="runs") == count(before, errors, family="runs")
    assert gauge(after, "loopdesk_approvals_pending") == gauge(before, "loopdesk_approvals_pending")


async def test_without_a_database_every_family_counts_a_failure(client, admin):
    before = await scrape(client, admin.token)
    unreachable = Database.connect(f"postgresql://loopdesk@127.0.0.1:{closed_port()}/loopdesk")
    try:
        assert await StateGauges(unreachable, 20, timeout_ms=500).refresh() == set(FAMILIES)
    finally:
        await unreachable.dispose()
    after = await scrape(client, admin.token)
    errors = "loopdesk_state_refresh_errors_total"
    assert all(count(after, errors, family=f) - count(before, errors, family=f) == 1 for f in FAMILIES)


async def test_the_background_refresher_keeps_the_gauges_current(client, app, admin, make_account):
    await app.state.state_gauges.stop()  # its next turn is 15 s away: this test's refresher must do the work
    customer = await make_account("later")
    gauges = StateGauges(app.state.database, 7, interval=0.05)
    await gauges.start()
    try:
        assert gauge(await scrape(client, admin.token), "loopdesk_db_pool_connections_max") == 7
        created = await client.post("/api/v1/sessions", json={}, headers=customer.headers)
        assert created.status_code == 201, created.text

        async def counted() -> bool:
            return gauge(await scrape(client, admin.token), "loopdesk_sessions_active", status="idle") == 1

        await until(counted, seconds=10)
    finally:
        await gauges.stop()
    assert gauge(await scrape(client, admin.token), "loopdesk_db_pool_connections_max") == 0


# Label names a loopdesk metric may carry: each takes a short, fixed set of values (never an id or a person).
BOUNDED_LABELS = {
    "method", "route", "status", "graph_id", "outcome", "via", "type", "code", "source", "decision", "provider",
    "direction", "kind", "stage", "family", "le",
    "target",  # a circuit breaker's model or import: operator-configured names, at most 256 (core/breaker.py)
    "to",  # a circuit breaker's new state
    "process",  # api or worker (serve's worker child, system/worker_metrics.py)
}  # fmt: skip
UNITS = ("_seconds", "_bytes", "_usd", "_ratio")


async def test_metric_names_follow_the_prometheus_conventions(client, admin):
    await client.get("/api/v1/health")  # at least one request, so that the HTTP series carry labels
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
    families = [f for f in text_string_to_metric_families(response.text) if f.name.startswith("loopdesk_")]
    names = {family.name for family in families}
    for expected in ("loopdesk_sessions_active", "loopdesk_approval_decision_seconds", "loopdesk_llm_calls"):
        assert expected in names
    for family in families:
        if family.name.endswith("_created"):  # the client library's own: when a counter or histogram began
            continue
        assert family.documentation, f"{family.name} has no HELP"
        assert not re.search(r"_(ms|milliseconds|minutes|hours|percent)(_|$)", family.name), family.name
        if family.type == "histogram":
            assert family.name.endswith(UNITS), f"histogram {family.name} names no unit"
        if family.type == "gauge":
            assert not family.name.endswith("_total"), f"gauge {family.name} ends in _total"
            if re.search(r"(^|_)(age|timestamp|duration)(_|$)", family.name):
                assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_created"):
                assert sample.name.endswith("_total"), f"counter sample {sample.name} lacks _total"
            assert set(sample.labels) <= BOUNDED_LABELS, f"{sample.name} has labels {set(sample.labels)}"
            assert not any(UUID_LIKE.search(value) for value in sample.labels.values()), sample

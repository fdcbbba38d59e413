"""Retention on a real migrated PostgreSQL: runs and their event logs made through the app, notification deliveries
and log records, aged in the database, then swept (dry, in batches, by the queue task and by the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import procrastinate
import psycopg
import pytest
from procrastinate.testing import InMemoryConnector

from loopdesk.core.settings import RetentionSettings
from loopdesk.system.retention import RULES, SWEEP_CRON, TASK_NAME, register_tasks, sizes, sweep

REPORT = {"title": "Checkout button does nothing", "description": "Tapping pay on the checkout page does nothing."}
AGES = RetentionSettings(
    retention_run_events_days=14,
    retention_runs_days=90,
    retention_notification_deliveries_days=30,
    retention_log_records_days=30,
    _env_file=None,
)


@pytest.fixture
def settings(settings):
    settings.feedback.feedback_workflow = False  # intake alone: the tasks' stages are set by the test
    return settings


def execute(url: str, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def ids(url: str, statement: str, *params: object) -> set:
    return {row[0] for row in execute(url, statement, *params)}


async def finished_run(client, account, thread_id: str) -> str:
    created = await client.post(
        f"/threads/{thread_id}/runs",
        json={"assistant_id": "echo", "input": {"messages": ["hi"]}},
        headers=account.headers,
    )
    assert created.status_code == 200, created.text
    run_id = created.json()["run_id"]
    joined = await client.get(f"/threads/{thread_id}/runs/{run_id}/join", headers=account.headers, timeout=60)
    assert joined.status_code == 200, joined.text
    return run_id


def age_run(url: str, run_id: str, days: int, *, status: str | None = None, cancel: str | None = None) -> None:
    execute(
        url,
        "UPDATE runs SET updated_at = now() - make_interval(days => %s), status = COALESCE(%s, status), "
        "cancel_action = %s WHERE run_id = %s",
        days,
        status,
        cancel,
        run_id,
    )


def finish_task(url: str, task_id: str, *, archived_days_ago: int | None, stage: str = "closed") -> None:
    execute(
        url,
        "UPDATE tasks SET workflow_stage = %s, stage_entered_at = now() - make_interval(days => 400), "
        "closed_at = now() - make_interval(days => 400), "
        "archived_at = CASE WHEN %s::int IS NULL THEN NULL ELSE now() - make_interval(days => %s::int) END "
        "WHERE id = %s",
        stage,
        archived_days_ago,
        archived_days_ago,
        task_id,
    )


def delivery(url: str, status: str, days_ago: int, task_id: str | None = None) -> int:
    return execute(
        url,
        # Due in a day: the app's outbox (its worker runs in the test) leaves a pending one alone meanwhile.
        "INSERT INTO notification_deliveries (dedup_key, task_id, event, kind, recipient, status, created_at, "
        "next_attempt_at) VALUES (%s, %s, 'stage:closed', 'email', 'ops@example.com', %s, "
        "now() - make_interval(days => %s), now() + interval '1 day') "
        "RETURNING id",
        uuid.uuid4().hex,
        task_id,
        status,
        days_ago,
    )[0][0]


def log_record(url: str, days_ago: int) -> int:
    return execute(
        url,
        "INSERT INTO log_records (ts, level, severity, message) "
        "VALUES (now() - make_interval(days => %s), 'error', 17, 'payment timeout') RETURNING id",
        days_ago,
    )[0][0]


async def test_a_sweep_deletes_exactly_what_is_past_its_age_and_a_dry_run_counts_it_first(
    app, client, make_account, admin, database_url
):
    url = database_url
    alice = await make_account("alice")
    thread = (await client.post("/threads", json={"metadata": {"graph_id": "echo"}}, headers=alice.headers)).json()
    runs = {name: await finished_run(client, alice, thread["thread_id"]) for name in ("old", "month", "busy", "stop")}
    runs["fresh"] = await finished_run(client, alice, thread["thread_id"])
    age_run(url, runs["old"], 100)
    age_run(url, runs["month"], 30)
    age_run(url, runs["busy"], 100, status="running")
    age_run(url, runs["stop"], 100, cancel="interrupt")  # a cancel its worker has yet to honour
    events = dict(execute(url, "SELECT run_id::text, count(*) FROM run_events GROUP BY run_id"))
    assert set(events) == set(runs.values())

    # A task finished and archived long ago stays, with its timeline: task_events is append-only.
    created = await client.post("/api/v1/feedback", json=REPORT, headers=alice.headers)
    assert created.status_code == 201, created.text
    task = created.json()["task"]["id"]
    execute(
        url,
        "UPDATE tasks SET workflow_stage = 'closed', stage_entered_at = now() - interval '400 days', "
        "closed_at = now() - interval '400 days', archived_at = now() - interval '370 days' WHERE id = %s",
        task,
    )
    timeline = execute(url, "SELECT id FROM task_events WHERE task_id = %s ORDER BY id", task)

    deliveries = {
        "sent_old": delivery(url, "sent", 40),
        "failed_old": delivery(url, "failed", 40),
        "pending_old": delivery(url, "pending", 40),
        "sent_new": delivery(url, "sent", 1),
        "of_the_task": delivery(url, "sent", 40, task),
    }
    logs = {"old": log_record(url, 40), "edge": log_record(url, 31), "new": log_record(url, 1)}

    database = app.state.database
    expected = {
        "run_events": events[runs["old"]] + events[runs["month"]],
        "runs": 1,
        "notification_deliveries": 3,
        "log_records": 2,
        "procrastinate_jobs": 0,  # the app's own jobs are fresh
        "tasks": 0,  # archived tasks are kept unless their age is set
    }
    dry = await sweep(database, AGES, dry_run=True)
    assert {outcome.rule.table: outcome.rows for outcome in dry} == expected
    assert len(ids(url, "SELECT run_id FROM runs")) == 5 and len(ids(url, "SELECT id FROM log_records")) == 3

    swept = await sweep(database, AGES, batch=1)  # one row (or one run's events) per transaction
    assert {outcome.rule.table: outcome.rows for outcome in swept} == expected

    kept_runs = {runs[name] for name in ("month", "busy", "stop", "fresh")}
    assert {str(i) for i in ids(url, "SELECT run_id FROM runs")} == kept_runs
    with_events = {str(i) for i in ids(url, "SELECT DISTINCT run_id FROM run_events")}
    assert with_events == {runs["busy"], runs["stop"], runs["fresh"]}
    listed = await client.get(f"/threads/{thread['thread_id']}/runs", headers=alice.headers)
    assert {run["run_id"] for run in listed.json()} == kept_runs

    kept_deliveries = {deliveries[name] for name in ("pending_old", "sent_new")}
    assert ids(url, "SELECT id FROM notification_deliveries") & set(deliveries.values()) == kept_deliveries
    assert ids(url, "SELECT id FROM log_records") == {logs["new"]}

    assert execute(url, "SELECT id FROM task_events WHERE task_id = %s ORDER BY id", task) == timeline
    assert (await client.get(f"/api/v1/tasks/{task}", headers=admin.headers)).json()["archived_at"]

    again = await sweep(database, AGES)
    assert all(outcome.rows == 0 for outcome in again)


async def test_archived_tasks_go_whole_once_their_age_is_set_and_originals_after_their_duplicates(
    app, client, make_account, admin, database_url
):
    url = database_url
    alice = await make_account("alice")

    topics = {
        "old": "The invoice PDF download returns an empty file.",
        "recent": "Dark mode makes the settings labels unreadable.",
        "open": "Push notifications arrive twice on Android.",
        "original": "Search ignores accents in product names.",
        "copy": "Password reset e-mails never arrive at outlook addresses.",
        "kept": "The map on the store locator page stays blank.",
        "live_copy": "Exporting orders to CSV drops the last column.",
    }

    async def report(title: str) -> str:
        body = {"title": title, "description": topics[title]}
        created = await client.post("/api/v1/feedback", json=body, headers=alice.headers)
        assert created.status_code == 201 and not created.json()["linked"], created.text  # tasks of their own
        return created.json()["task"]["id"]

    tasks = {name: await report(name) for name in topics}
    for name in ("old", "original", "copy", "kept"):
        finish_task(url, tasks[name], archived_days_ago=400)
    finish_task(url, tasks["recent"], archived_days_ago=10)
    finish_task(url, tasks["live_copy"], archived_days_ago=None)
    execute(url, "UPDATE tasks SET duplicate_of = %s WHERE id = %s", tasks["original"], tasks["copy"])
    execute(url, "UPDATE tasks SET duplicate_of = %s WHERE id = %s", tasks["kept"], tasks["live_copy"])

    # What is the old task's: a workflow thread with a run and checkpoints, a file, a delivery, an escalation's link.
    workflow = (await client.post("/threads", json={"metadata": {"graph_id": "echo"}}, headers=alice.headers)).json()
    workflow_run = await finished_run(client, alice, workflow["thread_id"])
    execute(url, "UPDATE tasks SET workflow_thread_id = %s WHERE id = %s", workflow["thread_id"], tasks["old"])
    assert execute(url, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", workflow["thread_id"])[0][0] > 0
    execute(
        url,
        "INSERT INTO task_attachments (id, task_id, uploaded_by, filename, content_type, size, sha256, data) "
        "VALUES (%s, %s, %s, 'app.log', 'text/plain', 3, %s, 'abc')",
        uuid.uuid4(),
        tasks["old"],
        alice.id,
        "0" * 64,
    )
    old_delivery = delivery(url, "pending", 1, tasks["old"])  # pending and fresh: its own rule would keep it
    chat = (await client.post("/threads", json={}, headers=alice.headers)).json()["thread_id"]
    escalation = execute(
        url,
        "INSERT INTO support_escalations (id, thread_id, reason, kind, status, task_id) "
        "VALUES (gen_random_uuid(), %s, 'bug', 'defect', 'open', %s) RETURNING id",
        chat,
        tasks["old"],
    )[0][0]
    gone = {tasks[name] for name in ("old", "original", "copy")}
    timelines = {task: execute(url, "SELECT id FROM task_events WHERE task_id = %s", task) for task in tasks.values()}
    assert all(timelines.values())

    ages = RetentionSettings(**{**AGES.model_dump(), "retention_archived_tasks_days": 365}, _env_file=None)
    dry = {outcome.rule.table: outcome.rows for outcome in await sweep(app.state.database, ages, dry_run=True)}
    assert dry["tasks"] == 3
    swept = {outcome.rule.table: outcome.rows for outcome in await sweep(app.state.database, ages, batch=1)}
    assert swept["tasks"] == 3  # the original in a later batch than its duplicate, in the same sweep

    left = {str(i) for i in ids(url, "SELECT id FROM tasks")}
    assert left == set(tasks.values()) - gone
    for task, timeline in timelines.items():
        assert execute(url, "SELECT id FROM task_events WHERE task_id = %s", task) == ([] if task in gone else timeline)
    assert not ids(url, "SELECT task_id FROM task_reporters WHERE task_id = ANY(%s::uuid[])", list(gone))
    assert not ids(url, "SELECT id FROM task_attachments WHERE task_id = %s", tasks["old"])
    assert old_delivery not in ids(url, "SELECT id FROM notification_deliveries")
    assert execute(url, "SELECT task_id FROM support_escalations WHERE id = %s", escalation) == [(None,)]
    assert not ids(url, "SELECT thread_id FROM threads WHERE thread_id = %s", workflow["thread_id"])
    assert not ids(url, "SELECT run_id FROM runs WHERE run_id = %s", workflow_run)
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert not ids(url, f"SELECT thread_id FROM {table} WHERE thread_id = %s", workflow["thread_id"])  # noqa: S608
    assert (await client.get(f"/api/v1/tasks/{tasks['old']}", headers=admin.headers)).status_code == 404
    assert (await client.get(f"/api/v1/tasks/{tasks['kept']}", headers=admin.headers)).status_code == 200


async def test_finished_queue_jobs_go_after_their_last_event_and_live_or_named_ones_stay(app, database_url):
    url = database_url

    def job(status: str, days_ago: int) -> int:
        found = execute(
            url,
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args) "
            "VALUES ('retention-test', 'loopdesk.nothing', %s, '{}') RETURNING id",
            status,
        )[0][0]
        execute(
            url,
            "INSERT INTO procrastinate_events (job_id, type, at) "
            "VALUES (%s, 'deferred', now() - make_interval(days => %s))",
            found,
            days_ago,
        )
        return found

    jobs = {
        "failed_old": job("failed", 40),
        "aborted_old": job("aborted", 40),
        "failed_new": job("failed", 1),
        "todo_old": job("todo", 40),  # waiting for its time: never swept
        "named_old": job("failed", 40),
    }
    execute(url, "INSERT INTO procrastinate_events (job_id, type) VALUES (%s, 'started')", jobs["failed_new"])
    execute(
        url,
        "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id) "
        "VALUES ('loopdesk.nothing', 1, %s)",
        jobs["named_old"],
    )
    outcomes = {outcome.rule.table: outcome.rows for outcome in await sweep(app.state.database, AGES, batch=1)}
    assert outcomes["procrastinate_jobs"] == 2
    left = ids(url, "SELECT id FROM procrastinate_jobs WHERE queue_name = 'retention-test'")
    assert left == {jobs["failed_new"], jobs["todo_old"], jobs["named_old"]}
    assert not ids(url, "SELECT id FROM procrastinate_events WHERE job_id = %s", jobs["failed_old"])  # cascaded


def test_the_timeline_stays_append_only_outside_the_sweeps_purge_of_an_archived_task(database_url):
    url = database_url
    with psycopg.connect(url, autocommit=True) as conn:
        user = conn.execute(
            "INSERT INTO users (id, email, password_hash, display_name, role) "
            "VALUES (gen_random_uuid(), 'x@example.com', 'x', 'x', 'customer') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        task = conn.execute(
            "INSERT INTO tasks (id, task_number, title, description, source_channel, reporter_id, workflow_stage) "
            "VALUES (gen_random_uuid(), 'T-1', 't', 'd', 'web', %s, 'closed') RETURNING id",
            (user,),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO task_events (task_id, kind) VALUES (%s, 'created')", (task,))

    def attempt(statement: str, *, purge: bool) -> None:
        with psycopg.connect(url) as conn:  # one transaction, rolled back
            if purge:
                conn.execute("SELECT set_config('loopdesk.purge_tasks', 'on', true)")
            conn.execute(statement, (task,))
            conn.rollback()  # the block would commit

    delete, update = (
        "DELETE FROM task_events WHERE task_id = %s",
        "UPDATE task_events SET kind = 'x' WHERE task_id = %s",
    )
    for statement, purge in ((delete, False), (delete, True), (update, False)):  # not archived yet
        with pytest.raises(psycopg.errors.RestrictViolation):
            attempt(statement, purge=purge)
    execute(url, "UPDATE tasks SET archived_at = now() WHERE id = %s", task)
    for statement, purge in ((delete, False), (update, True)):  # archived: still no delete unasked, never an update
        with pytest.raises(psycopg.errors.RestrictViolation):
            attempt(statement, purge=purge)
    attempt(delete, purge=True)  # the sweep's way: allowed (and rolled back here)
    assert len(execute(url, "SELECT id FROM task_events WHERE task_id = %s", task)) == 1


async def test_an_age_of_zero_keeps_rows_forever_and_sizes_are_reported(app, database_url):
    url = database_url
    ancient = log_record(url, 3650)
    delivery(url, "sent", 3650)
    forever = RetentionSettings(
        retention_run_events_days=0,
        retention_runs_days=0,
        retention_notification_deliveries_days=0,
        retention_log_records_days=0,
        retention_queue_jobs_days=0,
        _env_file=None,
    )
    outcomes = await sweep(app.state.database, forever)
    assert [(outcome.days, outcome.rows) for outcome in outcomes] == [(0, 0)] * len(RULES)
    assert ancient in ids(url, "SELECT id FROM log_records")

    found = {size.rule.table: size for size in await sizes(app.state.database, AGES)}
    assert set(found) == {rule.table for rule in RULES}
    assert (found["log_records"].rows, found["log_records"].due) == (1, 1)
    assert (found["notification_deliveries"].rows, found["notification_deliveries"].due) == (1, 1)
    assert found["log_records"].bytes > 0 and found["runs"].rows == 0
    assert ancient in ids(url, "SELECT id FROM log_records")  # reporting deletes nothing


async def test_the_queue_task_sweeps_on_its_hourly_schedule(app, settings, database_url):
    settings.retention = AGES
    queue = procrastinate.App(connector=InMemoryConnector())
    register_tasks(queue, SimpleNamespace(database=app.state.database, settings=settings))  # type: ignore[arg-type]
    periodic = {key[0]: task for key, task in queue.periodic_registry.periodic_tasks.items()}
    assert periodic[TASK_NAME].cron == SWEEP_CRON
    old, new = log_record(database_url, 40), log_record(database_url, 1)
    await queue.tasks[TASK_NAME].func(timestamp=0)
    assert ids(database_url, "SELECT id FROM log_records") == {new} and old != new


def test_every_queue_worker_runs_the_sweep():
    from loopdesk.runtime.worker import _DOMAINS

    assert register_tasks in _DOMAINS  # the worker registers it like every domain's tasks


def test_the_cli_reports_sizes_and_what_a_sweep_would_delete(database_url, tmp_path):
    old, kept = log_record(database_url, 40), log_record(database_url, 1)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    environment.update(
        LOOPDESK_DATABASE_URL=database_url,
        LOOPDESK_DATA_DIR=str(tmp_path),
        LOOPDESK_LOG_LEVEL="WARNING",
        LOOPDESK_RETENTION_RUNS_DAYS="0",
        COLUMNS="200",
    )

    def loopdesk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "loopdesk", "retention", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    status = loopdesk("status")
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if "log_records" in line)
    assert row.split("│")[3].strip() == "2" and "30 days" in row and row.split("│")[6].strip() == "1"
    assert "forever" in next(line for line in status.stdout.splitlines() if " runs " in line)

    dry = loopdesk("sweep", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "log store records: 1 due (older than 30 days)" in dry.stderr
    assert "finished runs: kept forever (LOOPDESK_RETENTION_RUNS_DAYS=0)" in dry.stderr
    assert ids(database_url, "SELECT id FROM log_records") == {old, kept}

"""Archiving: finished tasks past the configured age leave the default list, stay readable and searchable, and
a reopened task is active again."""

from __future__ import annotations

import psycopg

from loopdesk.feedback.archive import archive_finished
from tests.feedback.workflow_helpers import CRASH, post, task_at


async def _finish(database_url: str, task_id: str, *, days_ago: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE tasks SET workflow_stage = 'closed', closed_at = now(), "
            "stage_entered_at = now() - make_interval(days => %s) WHERE id = %s",
            (days_ago, task_id),
        )


async def test_old_finished_tasks_are_archived_and_stay_searchable(app, client, make_account, database_url) -> None:
    alice = await make_account("alice")
    old = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
    recent = (
        await post(client, alice, "/api/v1/feedback", {"title": "Export is slow", "description": "CSV export."}, 201)
    )["task"]
    for task in (old, recent):
        await task_at(client, alice, task["id"], "plan_review")
    await _finish(database_url, old["id"], days_ago=40)
    await _finish(database_url, recent["id"], days_ago=2)

    assert await archive_finished(app.state.database, after_days=30) == 1
    assert await archive_finished(app.state.database, after_days=30) == 0  # once

    async def listed(**params) -> set[str]:
        page = (await client.get("/api/v1/tasks", params=params, headers=alice.headers)).json()
        return {t["id"] for t in page["items"]}

    assert await listed() == {recent["id"]}
    assert await listed(archived="only") == {old["id"]}
    assert await listed(archived="include", q="checkout") == {old["id"]}
    read = (await client.get(f"/api/v1/tasks/{old['id']}", headers=alice.headers)).json()
    assert read["archived_at"] is not None
    events = (await client.get(f"/api/v1/tasks/{old['id']}/timeline", headers=alice.headers)).json()
    assert events[-1]["kind"] == "archived"

    reopened = await post(client, alice, f"/api/v1/tasks/{old['id']}/reopen", {"reason": "it is back"})
    assert reopened["archived_at"] is None and await listed() == {old["id"], recent["id"]}


async def test_archiving_is_off_at_zero_days(app, client, make_account, database_url) -> None:
    alice = await make_account("alice")
    task = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
    await task_at(client, alice, task["id"], "plan_review")
    await _finish(database_url, task["id"], days_ago=400)
    assert await archive_finished(app.state.database, after_days=0) == 0

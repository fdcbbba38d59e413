"""`task_update` frames: a task's followers get its timeline live (`subscribe` {task_id} and the seeds'
`subscribe_task`), its reporter gets the workflow's notifications without subscribing, and nobody follows a
task they may not read."""

from __future__ import annotations

from tests.feedback.workflow_helpers import CRASH, post, task_at
from tests.realtime.wsclient import WS


async def update(ws: WS, **match: str) -> dict:
    """The next `task_update` frame whose fields equal `match` (earlier ones are kept in `ws.received`)."""
    while True:
        frame = (await ws.until("task_update"))[-1]
        if all(frame.get(key) == value for key, value in match.items()):
            return frame


async def test_followers_see_each_step_of_the_task_live(server_url, client, make_account, payments) -> None:
    alice = await make_account("alice")
    lead, engineer = payments["lead"], payments["engineer"]
    task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
    await task_at(client, lead, task_id, "plan_review")
    watcher = await WS.open(server_url, lead.token)
    ack = await watcher.request({"type": "subscribe", "task_id": task_id})
    assert (ack["type"], ack["task_id"]) == ("ack", task_id)
    seed_style = await WS.open(server_url, engineer.token)
    assert (await seed_style.request({"type": "subscribe_task", "task_id": task_id}))["type"] == "ack"

    await post(client, lead, f"/api/v1/tasks/{task_id}/review", {"action": "approve"})
    approved = await update(watcher, kind="stage", to_value="assigned")
    assert (approved["task_id"], approved["from_value"]) == (task_id, "plan_review")
    assert approved["actor_id"] == lead.id and approved["event_id"].startswith(f"task:{task_id}:")
    await update(seed_style, kind="stage", to_value="assigned")

    await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": True, "notes": "patched"})
    # The graph's own step (resolved → verification) reaches the followers too.
    await update(watcher, kind="stage", to_value="verification")
    ids = [f["event_id"] for f in watcher.received if f["type"] == "task_update"]
    assert len(ids) == len(set(ids))
    await watcher.close()
    await seed_style.close()


async def test_the_reporter_hears_of_progress_without_subscribing(server_url, client, make_account, payments) -> None:
    alice = await make_account("alice")
    lead = payments["lead"]
    reporter = await WS.open(server_url, alice.token)
    assert (await reporter.request({"type": "ping"}))["type"] == "pong"  # connected before the report
    task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
    await task_at(client, lead, task_id, "plan_review")
    await post(client, lead, f"/api/v1/tasks/{task_id}/review", {"action": "approve"})
    told = await update(reporter, kind="stage:assigned")
    assert told["task_id"] == task_id and told["to_value"] == "assigned"
    await reporter.close()


async def test_nobody_follows_a_task_they_may_not_read(server_url, client, make_account) -> None:
    alice, mallory = await make_account("alice"), await make_account("mallory")
    task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
    socket = await WS.open(server_url, mallory.token)
    for frame in ({"type": "subscribe", "task_id": task_id}, {"type": "subscribe_task", "task_id": task_id}):
        refused = await socket.request(frame)
        assert (refused["type"], refused["code"]) == ("error", "task_not_found")
    await socket.close()

"""`notify`: which outbox rows a cause writes (people, channels, the stage's kinds, the region's chat and
language), written once per cause, with the send job queued in the same transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from loopdesk.feedback.models import Team
from loopdesk.notifications.service import SEND_TASK, dedup_key, stage_kinds
from loopdesk.users.models import SYSTEM_USER_ID
from tests.notifications.conftest import add_channel, add_task, add_user, by_kind, deliveries, notify_now

HOOK = {"url": "http://127.0.0.1:9/hook"}


async def test_each_person_gets_a_websocket_row_sent_at_once_and_an_email_when_the_stage_uses_email(database):
    reporter, lead = await add_user(database, "ada"), await add_user(database, "lead", role="staff")
    task = await add_task(database, reporter, region="international")

    pending = await notify_now(database, task, [reporter.id, lead.id], event_id=None)

    rows = await deliveries(database, task_id=task.id)
    kind = by_kind(rows)
    assert {row.recipient for row in kind("websocket")} == {str(reporter.id), str(lead.id)}
    assert all(row.status == "sent" and row.sent_at is not None for row in kind("websocket"))
    assert {row.recipient for row in kind("email")} == {reporter.email, lead.email}
    assert all(row.status == "pending" and row.user_id is not None for row in kind("email"))
    assert sorted(pending) == sorted(row.id for row in kind("email"))
    email = kind("email")[0]
    assert email.language == "en" and email.event == "stage:plan_review"
    assert email.subject == f"[{task.task_number}] Moved to plan review: Payment page crashes"
    assert f"/tasks/{task.task_number}" in email.body
    assert email.payload["task"]["number"] == task.task_number


async def test_a_stage_whose_channels_leave_out_email_writes_only_websocket_rows(database):
    reporter = await add_user(database, "bo")
    task = await add_task(database, reporter, workflow_stage="analyzed")

    pending = await notify_now(database, task, [reporter.id], event="stage:analyzed", data={"stage": "analyzed"})

    assert pending == []
    assert [row.kind for row in await deliveries(database, task_id=task.id)] == ["websocket"]


async def test_chat_is_dingtalk_for_a_domestic_task_and_slack_for_an_international_one(database):
    reporter = await add_user(database, "cy")
    await add_channel(database, "robot", "dingtalk", HOOK)
    await add_channel(database, "slack", "slack", HOOK)
    await add_channel(database, "hook", "webhook", HOOK)
    domestic = await add_task(database, reporter, region="domestic")
    international = await add_task(database, reporter, region="international")

    await notify_now(database, domestic, [])
    await notify_now(database, international, [])

    domestic_rows = await deliveries(database, task_id=domestic.id)
    assert sorted(row.recipient for row in domestic_rows) == ["hook", "robot"]
    assert {row.language for row in domestic_rows} == {"zh"}
    assert "任务进入「方案评审」阶段" in domestic_rows[0].subject
    international_rows = await deliveries(database, task_id=international.id)
    assert sorted(row.recipient for row in international_rows) == ["hook", "slack"]
    assert {row.language for row in international_rows} == {"en"}


async def test_channels_are_chosen_by_region_team_event_and_whether_they_are_enabled(database):
    reporter = await add_user(database, "di")
    team, other = Team(id=uuid.uuid4(), name="payments"), Team(id=uuid.uuid4(), name="mobile")
    async with database.sessionmaker() as session, session.begin():
        session.add_all([team, other])
    await add_channel(database, "domestic-only", "webhook", HOOK, region="domestic")
    await add_channel(database, "payments-team", "webhook", HOOK, team_id=team.id)
    await add_channel(database, "mobile-team", "webhook", HOOK, team_id=other.id)
    await add_channel(database, "assignments-only", "webhook", HOOK, events=["assigned"])
    await add_channel(database, "stage-changes", "webhook", HOOK, events=["stage:*"])
    await add_channel(database, "sla-only", "webhook", HOOK, events=["sla_warning"])
    await add_channel(database, "switched-off", "webhook", HOOK, enabled=False)
    task = await add_task(database, reporter, region="international", team_id=team.id)

    await notify_now(database, task, [], event_id=1)
    await notify_now(database, task, [], event="sla_warning", event_id=2)

    stage_rows = await deliveries(database, task_id=task.id, event_id=1)
    assert sorted(row.recipient for row in stage_rows) == ["payments-team", "stage-changes"]
    sla_rows = await deliveries(database, task_id=task.id, event_id=2)
    assert sorted(row.recipient for row in sla_rows) == ["payments-team", "sla-only"]


async def test_an_sla_warning_reaches_the_team_chat_whatever_the_stage(database):
    assert stage_kinds("sla_warning", "analyzed", "domestic") == {"websocket", "email", "dingtalk"}
    assert stage_kinds("stage:analyzed", "analyzed", "domestic") == {"websocket"}
    assert stage_kinds("stage:closed", "closed", "international") == {"websocket", "email"}  # no seed row: default


async def test_a_retried_cause_writes_each_delivery_once(database):
    reporter = await add_user(database, "ed")
    await add_channel(database, "hook", "webhook", HOOK)
    task = await add_task(database, reporter)

    first = await notify_now(database, task, [reporter.id], event_id=77)
    again = await notify_now(database, task, [reporter.id], event_id=77)

    assert len(first) == 2 and again == []  # the e-mail and the webhook, once
    rows = await deliveries(database, task_id=task.id)
    assert len(rows) == 3
    assert {row.dedup_key for row in rows} == {
        f"77:websocket:{reporter.id}",
        f"77:email:{reporter.email}",
        "77:webhook:hook",
    }


async def test_a_cause_without_a_timeline_entry_is_keyed_by_the_task_and_event(database):
    reporter = await add_user(database, "fay")
    first, second = await add_task(database, reporter), await add_task(database, reporter)

    await notify_now(database, first, [reporter.id], event="sla_warning")
    await notify_now(database, second, [reporter.id], event="sla_warning")

    assert len(await deliveries(database, task_id=first.id)) == 2
    assert len(await deliveries(database, task_id=second.id)) == 2  # not taken for the first task's


async def test_the_system_account_and_inactive_people_are_never_notified(database):
    reporter = await add_user(database, "gus")
    gone = await add_user(database, "gone", active=False)
    task = await add_task(database, reporter)

    assert await notify_now(database, task, [SYSTEM_USER_ID, gone.id, uuid.uuid4()]) == []
    assert await deliveries(database, task_id=task.id) == []


async def test_the_send_job_is_queued_with_the_pending_rows_in_the_same_transaction(database):
    reporter = await add_user(database, "hal")
    task = await add_task(database, reporter)

    pending = await notify_now(database, task, [reporter.id])

    async with database.sessionmaker() as session:
        jobs = (
            await session.execute(
                text("SELECT args FROM procrastinate_jobs WHERE task_name = :name"), {"name": SEND_TASK}
            )
        ).scalars()
        assert list(jobs) == [{"delivery_ids": pending}]


def test_a_dedup_key_longer_than_the_column_is_hashed() -> None:
    key = dedup_key("12", "email", "x" * 400 + "@example.com")
    assert len(key) <= 300 and key.startswith("12:email:sha256:")
    assert dedup_key("12", "email", "a@example.com") == "12:email:a@example.com"

"""Sending the outbox to real servers on 127.0.0.1: e-mail through aiosmtpd, DingTalk (signature recomputed),
Slack and signed webhooks over HTTP; retries with backoff, giving up, and rows a dead worker left pending."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import procrastinate
import pytest
from procrastinate.testing import InMemoryConnector

from loopdesk.notifications.jobs import SWEEP_TASK, register_jobs
from loopdesk.notifications.outbox import Outbox, backoff
from loopdesk.notifications.senders import SENDERS, Sender, dingtalk_sign
from loopdesk.notifications.service import SEND_TASK
from tests.notifications.conftest import add_channel, add_task, add_user, deliveries, notify_now
from tests.notifications.servers import http_endpoint, smtp_server

LATER = datetime.now(UTC) + timedelta(days=1)  # a sweep "a day later": every backoff has run out


@pytest.fixture
def outbox(database, settings) -> Outbox:
    return Outbox(database, settings)


async def one(database, **where):
    (row,) = await deliveries(database, **where)
    return row


class TestEmail:
    async def test_an_international_task_mails_the_person_in_english(self, database, settings, outbox):
        async with smtp_server() as smtp:
            settings.notifications.smtp_port = smtp.port
            reporter = await add_user(database, "ada")
            task = await add_task(database, reporter, region="international", title="Checkout fails")
            ids = await notify_now(database, task, [reporter.id])

            assert await outbox.send(ids) == 1

        (mail,) = smtp.mails
        assert mail.recipients == [reporter.email] and mail.sender == "desk@loopdesk.test"
        assert mail.message["Subject"] == f"[{task.task_number}] Moved to plan review: Checkout fails"
        assert "Priority: P1" in mail.text and f"Open: /tasks/{task.task_number}" in mail.text
        row = await one(database, kind="email")
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None

    async def test_a_domestic_task_mails_the_person_in_chinese(self, database, settings, outbox):
        async with smtp_server() as smtp:
            settings.notifications.smtp_port = smtp.port
            reporter = await add_user(database, "li")
            task = await add_task(database, reporter, region="domestic", title="支付页面崩溃")
            await outbox.send(await notify_now(database, task, [reporter.id]))

        (mail,) = smtp.mails
        assert mail.message["Subject"] == f"[{task.task_number}] 任务进入「方案评审」阶段：支付页面崩溃"
        assert "阶段：方案评审" in mail.text and "优先级：P1" in mail.text

    async def test_an_email_channel_sends_one_message_to_all_its_recipients(self, database, settings, outbox):
        async with smtp_server() as smtp:
            settings.notifications.smtp_port = smtp.port
            await add_channel(database, "ops", "email", {"recipients": ["a@example.com", "b@example.com"]})
            task = await add_task(database, await add_user(database, "bo"))
            await outbox.send(await notify_now(database, task, []))

        (mail,) = smtp.mails
        assert mail.recipients == ["a@example.com", "b@example.com"]
        assert (await one(database, kind="email")).recipient == "ops"

    async def test_without_an_smtp_server_configured_an_email_fails_at_once(self, database, settings, outbox):
        settings.notifications.smtp_host = None
        reporter = await add_user(database, "cy")
        await outbox.send(await notify_now(database, task := await add_task(database, reporter), [reporter.id]))

        row = await one(database, task_id=task.id, kind="email")
        assert (row.status, row.attempts) == ("failed", 1)
        assert "LOOPDESK_SMTP_HOST" in row.last_error


class TestChat:
    async def test_a_dingtalk_robot_gets_markdown_signed_with_its_secret(self, database, outbox):
        secret = "SEC0123456789abcdef"
        async with http_endpoint(answer={"errcode": 0, "errmsg": "ok"}) as robot:
            await add_channel(
                database, "robot", "dingtalk", {"url": f"{robot.url}/robot/send?access_token=tok123", "secret": secret}
            )
            task = await add_task(database, await add_user(database, "di"), region="domestic")
            await outbox.send(await notify_now(database, task, []))

        (request,) = robot.requests
        assert request.path == "/robot/send" and request.query["access_token"] == "tok123"
        timestamp = request.query["timestamp"]
        assert abs(int(timestamp) / 1000 - datetime.now(UTC).timestamp()) < 3600
        expected = dingtalk_sign(secret, timestamp)
        assert hmac.compare_digest(request.query["sign"], expected)
        body = request.json
        assert body["msgtype"] == "markdown"
        assert body["markdown"]["title"].startswith(f"[{task.task_number}] 任务进入「方案评审」阶段")
        assert f"/tasks/{task.task_number}" in body["markdown"]["text"]
        assert (await one(database, kind="dingtalk")).status == "sent"

    def test_the_dingtalk_signature_is_the_documented_hmac(self) -> None:
        import base64

        digest = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
        assert dingtalk_sign("SECabc", "1700000000000") == base64.b64encode(digest).decode()

    async def test_a_dingtalk_errcode_is_a_failure_whose_error_never_repeats_the_token(self, database, outbox):
        token = "tok-secret-987654"
        answer = {"errcode": 310000, "errmsg": f"sign not match, token {token}"}
        async with http_endpoint(answer=answer) as robot:
            await add_channel(database, "robot", "dingtalk", {"url": f"{robot.url}/send?access_token={token}"})
            task = await add_task(database, await add_user(database, "ed"), region="domestic")
            await outbox.send(await notify_now(database, task, []))

        row = await one(database, kind="dingtalk")
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error.startswith("DingTalk errcode 310000")
        assert token not in row.last_error

    async def test_slack_gets_the_subject_and_body_as_text(self, database, outbox):
        async with http_endpoint() as slack:
            await add_channel(database, "slack", "slack", {"url": f"{slack.url}/services/T1/B2/xyz"})
            task = await add_task(database, await add_user(database, "fay"), region="international")
            await outbox.send(await notify_now(database, task, []))

        (request,) = slack.requests
        assert request.path == "/services/T1/B2/xyz"
        assert request.json["text"].startswith(f"*[{task.task_number}] Moved to plan review")
        assert (await one(database, kind="slack")).status == "sent"


class TestWebhook:
    async def test_a_webhook_gets_the_delivery_as_json_signed_with_its_secret(self, database, outbox):
        async with http_endpoint() as hook:
            await add_channel(database, "signed", "webhook", {"url": f"{hook.url}/signed", "secret": "s3cret"})
            await add_channel(database, "plain", "webhook", {"url": f"{hook.url}/plain"})
            task = await add_task(database, await add_user(database, "gus"))
            await outbox.send(await notify_now(database, task, [], event_id=None))

        requests = {request.path: request for request in hook.requests}
        signed = requests["/signed"]
        expected = "sha256=" + hmac.new(b"s3cret", signed.body, hashlib.sha256).hexdigest()
        assert signed.headers["x-loopdesk-signature"] == expected
        assert signed.json["event"] == "stage:plan_review"
        assert signed.json["task"]["number"] == task.task_number
        assert signed.json["subject"].startswith(f"[{task.task_number}]")
        assert "x-loopdesk-signature" not in requests["/plain"].headers

    async def test_a_server_failing_twice_is_retried_with_backoff_and_ends_sent_after_three_attempts(
        self, database, outbox
    ):
        async with http_endpoint(statuses=(500, 500)) as hook:
            await add_channel(database, "flaky", "webhook", {"url": f"{hook.url}/hook"})
            task = await add_task(database, await add_user(database, "hal"))
            ids = await notify_now(database, task, [])

            before = datetime.now(UTC)
            await outbox.send(ids)
            row = await one(database, kind="webhook")
            assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
            assert row.next_attempt_at >= before + timedelta(seconds=60)  # the configured backoff

            assert await outbox.send(ids) == 0  # not due yet: nothing is sent before its time
            assert await outbox.sweep() == 0
            assert await outbox.sweep(now=LATER, limit=1) == 1
            second = await one(database, kind="webhook")
            assert (second.status, second.attempts) == ("pending", 2)
            assert second.next_attempt_at - row.next_attempt_at >= timedelta(seconds=60)  # the wait doubled
            assert await outbox.sweep(now=LATER, limit=1) == 1

        row = await one(database, kind="webhook")
        assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
        assert len(hook.requests) == 3

    async def test_a_server_that_always_fails_ends_failed_after_the_last_attempt(self, database, outbox):
        async with http_endpoint(status=503) as hook:
            await add_channel(database, "down", "webhook", {"url": f"{hook.url}/hook"})
            task = await add_task(database, await add_user(database, "ivy"))
            await outbox.send(await notify_now(database, task, []))
            assert await outbox.sweep(now=LATER) == 2  # attempts 2 and 3 (the maximum)
            assert await outbox.sweep(now=LATER) == 0

        row = await one(database, kind="webhook")
        assert (row.status, row.attempts, row.last_error) == ("failed", 3, "HTTP 503")
        assert len(hook.requests) == 3

    async def test_a_client_error_is_not_retried(self, database, outbox):
        async with http_endpoint(status=404) as hook:
            await add_channel(database, "gone", "webhook", {"url": f"{hook.url}/hook"})
            task = await add_task(database, await add_user(database, "jo"))
            await outbox.send(await notify_now(database, task, []))

        row = await one(database, kind="webhook")
        assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 404")

    async def test_a_private_address_not_allow_listed_is_refused_and_never_reached(self, database, settings, outbox):
        settings.outbound.outbound_allowlist = []
        async with http_endpoint() as hook:
            await add_channel(database, "inside", "webhook", {"url": f"{hook.url}/hook?token=abcdef123"})
            task = await add_task(database, await add_user(database, "kai"))
            await outbox.send(await notify_now(database, task, []))

        assert hook.requests == []
        row = await one(database, kind="webhook")
        assert row.status == "failed" and "private" in row.last_error and "abcdef123" not in row.last_error


class TestDurability:
    async def test_a_delivery_no_worker_sent_is_sent_by_the_sweep(self, database, outbox):
        async with http_endpoint() as hook:
            await add_channel(database, "hook", "webhook", {"url": f"{hook.url}/hook"})
            task = await add_task(database, await add_user(database, "lu"))
            await notify_now(database, task, [])  # its job is queued, but no worker ever runs it

            assert await outbox.sweep() == 1

        assert len(hook.requests) == 1
        assert (await one(database, kind="webhook")).status == "sent"

    async def test_a_worker_killed_mid_send_leaves_the_row_pending_for_the_sweep(self, database, settings):
        class Killed(Sender):
            kind = "webhook"

            async def send(self, delivery, config, context):
                raise asyncio.CancelledError  # the worker's task is cancelled while the request is out

        async with http_endpoint() as hook:
            await add_channel(database, "hook", "webhook", {"url": f"{hook.url}/hook"})
            task = await add_task(database, await add_user(database, "max"))
            ids = await notify_now(database, task, [])
            with pytest.raises(asyncio.CancelledError):
                await Outbox(database, settings, senders={**SENDERS, "webhook": Killed()}).send(ids)
            row = await one(database, kind="webhook")
            assert (row.status, row.attempts) == ("pending", 0)

            assert await Outbox(database, settings).sweep() == 1

        assert len(hook.requests) == 1
        assert (await one(database, kind="webhook")).status == "sent"

    async def test_two_senders_at_once_send_each_delivery_once(self, database, outbox):
        async with http_endpoint(delay=0.05) as hook:
            await add_channel(database, "hook", "webhook", {"url": f"{hook.url}/hook"})
            for name in ("n1", "n2", "n3", "n4"):
                await notify_now(database, await add_task(database, await add_user(database, name)), [])

            counts = await asyncio.gather(outbox.sweep(), outbox.sweep(), outbox.sweep())

        assert sum(counts) == 4
        assert len(hook.requests) == 4
        assert {row.status for row in await deliveries(database, kind="webhook")} == {"sent"}


def test_the_backoff_doubles_per_attempt_up_to_an_hour() -> None:
    assert [backoff(n, 30).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(20, 30) == timedelta(hours=1)


def test_the_worker_registers_the_send_job_and_the_periodic_sweep(database, settings) -> None:
    app = procrastinate.App(connector=InMemoryConnector())
    register_jobs(app, database, settings)
    assert {SEND_TASK, SWEEP_TASK} <= set(app.tasks)
    periodic = app.periodic_registry.periodic_tasks
    (sweep,) = [task for task in periodic.values() if task.task.name == SWEEP_TASK]
    assert sweep.cron == "* * * * * */15"

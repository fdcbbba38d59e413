"""The intake sources beside a customer's own report, against real PostgreSQL: the support hand-over (over REST, and
by the support agent's `report_problem` tool in a real thread of the runtime), automatic intake from a burst
planted in the real log store, and staff unlinking a reporter who joined a task as a near-duplicate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson

from loopdesk.feedback.auto_intake import run_auto_intake, schedule
from loopdesk.triage.store.ingest import JsonLinesParser
from loopdesk.triage.store.service import LogService
from loopdesk.triage.store.writer import miner_templater
from loopdesk.users.models import SYSTEM_USER_ID
from tests.conftest import assert_error
from tests.feedback.workflow_helpers import CRASH, post
from tests.tools.agents import make_agent, say, settle, start_thread, tool_messages

CUSTOMER_SAYS = "My card payment at checkout fails every time with a gateway timeout."
SUPPORT = [{"content": "Sorry about that. I will pass this on to the payments team."}]


async def timeline(client, account, task_id: str) -> list[dict]:
    response = await client.get(f"/api/v1/tasks/{task_id}/timeline", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestHandover:
    async def test_staff_hand_a_conversation_over_as_the_customers_report_with_its_transcript(
        self, client, admin, make_account
    ) -> None:
        customer = await make_account("carol")
        assistant = await make_agent(client, None, SUPPORT)
        thread = await start_thread(client, customer.headers)
        await say(client, customer.headers, thread, assistant, CUSTOMER_SAYS)

        body = {"thread_id": thread, "customer_id": customer.id, "title": "Card payments time out at checkout"}
        handed = await post(client, admin, "/api/v1/feedback/handover", body, 201)
        task = handed["task"]
        assert (task["source_channel"], task["reporter_id"], handed["linked"]) == ("support", customer.id, False)
        assert CUSTOMER_SAYS in task["description"] and "Sorry about that" in task["description"]
        assert handed["transcript"]["filename"] == "transcript.json"
        assert handed["transcript"]["uploaded_by"] == customer.id  # the customer's own conversation

        # The customer sees the task as their own, and the transcript of their conversation.
        mine = (await client.get(f"/api/v1/tasks/{task['id']}", headers=customer.headers)).json()
        assert (mine["joined"], mine["title"]) == (False, body["title"])
        files = (await client.get(f"/api/v1/tasks/{task['id']}/attachments", headers=customer.headers)).json()
        assert [f["filename"] for f in files] == ["transcript.json"]
        raw = await client.get(f"/api/v1/tasks/{task['id']}/attachments/{files[0]['id']}", headers=admin.headers)
        transcript = json.loads(raw.content)
        assert transcript["conversation"] == {"kind": "thread", "id": thread}
        assert [(m["role"], m["content"]) for m in transcript["messages"]] == [
            ("user", CUSTOMER_SAYS),
            ("assistant", SUPPORT[0]["content"]),
        ]
        created = [e for e in await timeline(client, admin, task["id"]) if e["kind"] == "created"]
        assert created[0]["actor_id"] == admin.id and created[0]["data"]["source_channel"] == "support"

    async def test_an_issue_type_hint_and_a_description_are_kept(self, client, admin, make_account) -> None:
        customer = await make_account("dave")
        assistant = await make_agent(client, None, SUPPORT)
        thread = await start_thread(client, customer.headers)
        await say(client, customer.headers, thread, assistant, "It would be nice to pay with a gift card.")
        body = {
            "thread_id": thread, "customer_id": customer.id, "title": "Gift cards at checkout",
            "description": "The customer asks for gift card payments.", "issue_type": "suggestion",
        }  # fmt: skip
        task = (await post(client, admin, "/api/v1/feedback/handover", body, 201))["task"]
        assert (task["issue_type"], task["description"]) == ("suggestion", body["description"])

    async def test_only_staff_hand_over_and_only_conversations_they_may_read(self, client, make_account) -> None:
        customer, other = await make_account("erin"), await make_account("frank")
        staff = await make_account("agent", role="staff")
        assistant = await make_agent(client, None, SUPPORT)
        thread = await start_thread(client, customer.headers)
        await say(client, customer.headers, thread, assistant, CUSTOMER_SAYS)
        body = {"thread_id": thread, "customer_id": customer.id, "title": "Payments fail"}
        assert_error(await client.post("/api/v1/feedback/handover", json=body, headers=customer.headers), 403)
        # A plain thread is its owner's (and admins'): another staff member cannot read it.
        response = await client.post("/api/v1/feedback/handover", json=body, headers=staff.headers)
        assert_error(response, 404, "conversation_not_found")
        # Their own thread, handed over for a customer, is fine; someone else's conversation for a customer is not.
        own = await start_thread(client, staff.headers)
        await say(client, staff.headers, own, assistant, CUSTOMER_SAYS)
        mine = {**body, "thread_id": own, "customer_id": other.id}
        handed = await post(client, staff, "/api/v1/feedback/handover", mine, 201)
        assert handed["task"]["reporter_id"] == other.id and handed["transcript"]["uploaded_by"] == staff.id
        both = {**body, "session_id": thread}
        assert_error(await client.post("/api/v1/feedback/handover", json=both, headers=staff.headers), 422)

    async def test_the_support_agent_hands_the_conversation_over_through_an_approved_tool(
        self, client, make_account
    ) -> None:
        customer = await make_account("gina")
        turns = [
            {
                "tool_calls": [
                    {"name": "report_problem", "args": {"title": "Refund never arrived", "issue_type": "bug"}}
                ]
            },
            {"content": "I have reported it to the team."},
        ]
        assistant = await make_agent(client, None, turns, tools=["report_problem"])
        thread = await start_thread(client, customer.headers)
        await say(client, customer.headers, thread, assistant, "I asked for a refund two weeks ago and got nothing.")
        # A write: nothing is reported before someone approves it.
        listed = (await client.get("/api/v1/tasks", headers=customer.headers)).json()
        assert listed["total"] == 0
        [approval] = (await client.get("/api/v1/approvals", headers=customer.headers)).json()["items"]
        assert approval["tool_name"] == "report_problem"
        decided = await client.post(f"/api/v1/approvals/{approval['id']}/approve", headers=customer.headers)
        assert decided.status_code == 200, decided.text
        await settle(client, customer.headers, thread)
        state = (await client.get(f"/threads/{thread}/state", headers=customer.headers)).json()
        [result] = tool_messages(state["values"])
        number = json.loads(result["content"])["task_number"]

        task = (await client.get(f"/api/v1/tasks/{number}", headers=customer.headers)).json()
        assert (task["source_channel"], task["reporter_id"], task["issue_type"]) == ("support", customer.id, "bug")
        assert "refund two weeks ago" in task["description"]
        files = (await client.get(f"/api/v1/tasks/{number}/attachments", headers=customer.headers)).json()
        assert [f["filename"] for f in files] == ["transcript.json"]
        created = [e for e in await timeline(client, customer, task["id"]) if e["kind"] == "created"]
        assert created[0]["actor_id"] == str(SYSTEM_USER_ID)


# -- automatic intake ------------------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _log(at: datetime, level: str, module: str, message: str) -> bytes:
    return orjson.dumps({"ts": at.isoformat(), "level": level, "module": module, "msg": message})


def quiet_hours(end: datetime, hours: int = 3) -> list[bytes]:
    start = end - timedelta(hours=hours)
    return [
        _log(start + timedelta(minutes=i), "info", "checkout.api", f"order ord-{i} paid in {40 + i % 9} ms")
        for i in range(hours * 60)
    ]


def burst(start: datetime, minutes: int = 10) -> list[bytes]:
    return [
        _log(start + timedelta(seconds=s), "error", "checkout.api", f"Payment gateway timeout after 3000 ms (ord-{s})")
        for s in range(0, minutes * 60, 10)
    ]


async def ingest(app, lines: list[bytes]) -> None:
    async def each() -> AsyncIterator[bytes]:
        for line in lines:
            yield line

    async with app.state.database.sessionmaker() as session, session.begin():
        report = await LogService(session).ingest(JsonLinesParser(), each(), templater=miner_templater())
        assert report.rejected == 0, report.errors


async def auto_tasks(client, admin) -> list[dict]:
    listed = (await client.get("/api/v1/tasks?limit=50", headers=admin.headers)).json()["items"]
    return [task for task in listed if task["source_channel"] == "auto"]


class TestAutoIntake:
    def test_the_interval_becomes_a_cron_step(self) -> None:
        assert [schedule(s) for s in (30, 300, 7200)] == ["* * * * * */30", "*/5 * * * *", "0 */2 * * *"]

    async def test_a_burst_opens_one_task_however_many_runs_see_it(self, app, client, admin) -> None:
        await ingest(app, quiet_hours(NOW) + burst(NOW - timedelta(minutes=40)))
        settings, graphs = app.state.settings, app.state.graphs
        runs = [run_auto_intake(app.state.database, settings=settings, graphs=graphs, now=NOW) for _ in range(2)]
        first, second = await asyncio.gather(*runs)  # two workers at the same moment
        assert len(first.opened) + len(second.opened) == 1 and first.known + second.known == 1
        later = await run_auto_intake(
            app.state.database, settings=settings, graphs=graphs, now=NOW + timedelta(minutes=5)
        )
        assert (later.opened, later.joined, later.known) == ([], [], 1)  # the window slid: the same incident

        [task] = await auto_tasks(client, admin)
        assert (task["reporter_id"], task["issue_type"]) == (str(SYSTEM_USER_ID), "bug")
        assert "checkout.api" in task["title"]
        assert "Payment gateway timeout after <*> ms" in task["description"]
        [incident] = [e for e in await timeline(client, admin, task["id"]) if e["kind"] == "incident"]
        assert incident["data"]["module"] == "checkout.api" and incident["data"]["severity"] == "high"
        assert datetime.fromisoformat(incident["data"]["start"]) == NOW - timedelta(minutes=40)

    async def test_a_new_incident_of_the_module_joins_its_open_auto_task(self, app, client, admin) -> None:
        await ingest(app, quiet_hours(NOW + timedelta(hours=2), hours=5) + burst(NOW - timedelta(minutes=40)))
        settings, graphs = app.state.settings, app.state.graphs
        first = await run_auto_intake(app.state.database, settings=settings, graphs=graphs, now=NOW)
        await ingest(app, burst(NOW + timedelta(minutes=80)))
        second = await run_auto_intake(
            app.state.database, settings=settings, graphs=graphs, now=NOW + timedelta(hours=2)
        )
        assert len(first.opened) == 1 and second.opened == [] and second.joined == first.opened
        [task] = await auto_tasks(client, admin)
        incidents = [e for e in await timeline(client, admin, task["id"]) if e["kind"] == "incident"]
        assert len(incidents) == 2


# -- unlinking a joined reporter -------------------------------------------------------------------------------------


class TestUnlink:
    async def test_an_unlinked_reporter_gets_their_own_task_and_is_never_joined_again(
        self, client, make_account
    ) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        staff = await make_account("triager", role="staff")
        first = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
        joined = await post(client, bob, "/api/v1/feedback", CRASH, 200)
        assert joined["linked"] is True and joined["task"]["reporter_count"] == 2

        done = await post(client, staff, f"/api/v1/tasks/{first['id']}/reporters/{bob.id}/unlink", {}, 200)
        assert done["task"]["reporter_count"] == 1
        own = done["own_task"]
        assert (own["reporter_id"], own["title"], own["description"]) == (bob.id, CRASH["title"], CRASH["description"])
        assert own["id"] != first["id"] and own["workflow_stage"] != "received"
        assert_error(await client.get(f"/api/v1/tasks/{first['id']}", headers=bob.headers), 404, "task_not_found")
        theirs = (await client.get(f"/api/v1/tasks/{own['id']}", headers=bob.headers)).json()
        assert theirs["joined"] is False
        left = [e for e in await timeline(client, staff, first["id"]) if e["kind"] == "duplicate_unlinked"]
        assert [(e["from_value"], e["to_value"], e["data"]["own_task_id"]) for e in left] == [("2", "1", own["id"])]
        opened = [e for e in await timeline(client, staff, own["id"]) if e["kind"] == "duplicate_unlinked"]
        assert opened[0]["data"]["unlinked_from"] == first["id"]

        # The same report again: never joined to alice's task (it may join bob's own).
        again = (await client.post("/api/v1/feedback", json=CRASH, headers=bob.headers)).json()
        assert again["task"]["id"] != first["id"]
        original = (await client.get(f"/api/v1/tasks/{first['id']}", headers=alice.headers)).json()
        assert original["reporter_count"] == 1

    async def test_only_a_joined_reporter_can_be_unlinked_and_only_by_staff(self, client, make_account) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        staff = await make_account("triager", role="staff")
        first = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
        await post(client, bob, "/api/v1/feedback", CRASH, 200)
        path = f"/api/v1/tasks/{first['id']}/reporters"
        assert_error(await client.post(f"{path}/{bob.id}/unlink", headers=alice.headers), 403)
        assert_error(await client.post(f"{path}/{alice.id}/unlink", headers=staff.headers), 409, "first_reporter")
        stranger = await make_account("stranger")
        response = await client.post(f"{path}/{stranger.id}/unlink", headers=staff.headers)
        assert_error(response, 404, "reporter_not_found")

"""Intake and the task read API over HTTP, on a real migrated database."""

from __future__ import annotations

import re

import httpx
import psycopg
import pytest

from tests.conftest import Account, assert_error, client_at


@pytest.fixture
def settings(settings):
    settings.feedback.feedback_workflow = False  # intake and reads alone: the workflow has its own tests
    return settings


CRASH = {"title": "App crashes on login", "description": "Every time I tap login the app crashes and closes."}
WORDING = {"title": "Suggestion: rename the Save button", "description": "It would be nicer if it said Save draft."}
CRASH_ZH = {"title": "登录时应用崩溃", "description": "每次点击登录按钮应用就闪退，完全无法使用。"}
EXPORT = {"title": "CSV export misses the last row", "description": "Exporting the invoice list drops the final line."}


async def submit(client: httpx.AsyncClient, account: Account, body: dict, status: int = 201) -> dict:
    response = await client.post("/api/v1/feedback", json=body, headers=account.headers)
    assert response.status_code == status, response.text
    return response.json()


async def timeline(client: httpx.AsyncClient, account: Account, key: str) -> list[dict]:
    response = await client.get(f"/api/v1/tasks/{key}/timeline", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestIntake:
    async def test_a_report_is_created_classified_and_put_on_the_timeline(self, client, make_account) -> None:
        alice = await make_account("alice")
        body = await submit(client, alice, {**CRASH, "affected_modules": ["auth", "auth", "mobile"]})
        task = body["task"]
        assert body["linked"] is False
        assert task["workflow_stage"] == "classified" and task["issue_type"] == "bug"
        assert (task["reporter_id"], task["reporter_count"], task["source_channel"]) == (alice.id, 1, "api")
        assert task["affected_modules"] == ["auth", "mobile"]
        assert task["priority_level"] in {"P0", "P1", "P2", "P3", "P4"} and task["sla_deadline"]
        events = (await timeline(client, alice, task["id"]))[:4]  # the workflow graph's steps follow these
        assert [e["kind"] for e in events] == ["created", "classified", "priority", "stage"]
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        assert (events[0]["actor_id"], events[0]["to_value"]) == (alice.id, "received")
        assert (events[3]["from_value"], events[3]["to_value"], events[3]["actor_id"]) == (
            "received",
            "classified",
            None,
        )

    async def test_a_crash_outranks_a_wording_suggestion(self, client, make_account) -> None:
        alice = await make_account("alice")
        crash, wording = (await submit(client, alice, CRASH))["task"], (await submit(client, alice, WORDING))["task"]
        assert (crash["issue_type"], wording["issue_type"]) == ("bug", "suggestion")
        assert crash["priority_score"] > wording["priority_score"]

    async def test_task_numbers_are_unique_and_formatted(self, client, make_account) -> None:
        alice = await make_account("alice")
        numbers = [(await submit(client, alice, body))["task"]["task_number"] for body in (CRASH, WORDING, EXPORT)]
        assert len(set(numbers)) == 3
        assert all(re.fullmatch(r"FB-\d{4}-\d{6}", number) for number in numbers)

    async def test_the_client_ip_decides_the_region_and_its_reason_is_kept(self, app, make_account) -> None:
        alice = await make_account("alice")
        async with client_at(app, "8.8.8.8") as abroad:
            task = (await submit(abroad, alice, CRASH_ZH))["task"]
        assert (task["region"], task["region_reason"]["rule"]) == ("international", "signals")
        assert task["language"] == "zh"

    async def test_without_signals_the_language_decides_the_region(self, client, make_account) -> None:
        alice = await make_account("alice")
        task = (await submit(client, alice, CRASH_ZH))["task"]  # the test client calls from no real address
        assert (task["region"], task["region_reason"]["rule"]) == ("domestic", "language_fallback")
        task = (await submit(client, alice, {**EXPORT, "registered_region": "中国"}))["task"]
        assert (task["region"], task["region_reason"]["rule"]) == ("domestic", "signals")

    async def test_only_staff_may_use_the_support_and_auto_channels(self, client, make_account) -> None:
        alice, sam = await make_account("alice"), await make_account("sam", role="staff")
        response = await client.post(
            "/api/v1/feedback", json={**CRASH, "source_channel": "support"}, headers=alice.headers
        )
        assert_error(response, 403, "source_channel_forbidden")
        assert (await submit(client, sam, {**CRASH, "source_channel": "support"}))["task"]["source_channel"] == (
            "support"
        )

    @pytest.mark.parametrize(
        "body",
        [
            {**CRASH, "title": ""},
            {**CRASH, "title": "   "},
            {"title": "no description"},
            {**CRASH, "source_channel": "fax"},
            {**CRASH, "extra": 1},
            {**CRASH, "description": "nul \u0000 inside"},
            {"title": "\u0001", "description": "\u0002"},  # nothing the classifier can read
        ],
    )
    async def test_bad_input_gets_the_error_envelope(self, client, make_account, body) -> None:
        alice = await make_account("alice")
        assert_error(await client.post("/api/v1/feedback", json=body, headers=alice.headers), 422)

    async def test_anonymous_callers_cannot_report(self, client) -> None:
        assert_error(await client.post("/api/v1/feedback", json=CRASH), 401)


class TestDuplicates:
    async def test_a_duplicate_joins_the_open_original(self, client, make_account) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        first = (await submit(client, alice, CRASH))["task"]
        joined = await submit(client, bob, CRASH, status=200)
        assert joined["linked"] is True
        assert (joined["task"]["id"], joined["task"]["reporter_count"]) == (first["id"], 2)
        # The second reporter now follows the original; nothing new was opened.
        assert (await client.get(f"/api/v1/tasks/{first['id']}", headers=bob.headers)).status_code == 200
        listed = (await client.get("/api/v1/tasks", headers=bob.headers)).json()
        assert [t["id"] for t in listed["items"]] == [first["id"]]
        linked = [e for e in await timeline(client, alice, first["id"]) if e["kind"] == "duplicate_linked"]
        assert [(e["actor_id"], e["to_value"]) for e in linked] == [(bob.id, "2")]
        # The same reporter again does not count twice.
        again = await submit(client, bob, CRASH, status=200)
        assert again["task"]["reporter_count"] == 2

    async def test_a_joined_reporter_follows_progress_but_never_reads_the_other_reporters_words(
        self, client, make_account
    ) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        first = (await submit(client, alice, CRASH))["task"]
        joined = (await submit(client, bob, CRASH, status=200))["task"]
        read = (await client.get(f"/api/v1/tasks/{first['id']}", headers=bob.headers)).json()
        listed = (await client.get("/api/v1/tasks", headers=bob.headers)).json()["items"][0]
        for view in (joined, read, listed):  # the workflow moves on meanwhile: same task, whatever its stage
            assert view["joined"] is True and view["id"] == first["id"]
            assert view["title"] is None and view["description"] is None and view["reporter_id"] is None
        assert {e["kind"] for e in await timeline(client, bob, first["id"])} == {"stage"}
        own = (await client.get(f"/api/v1/tasks/{first['id']}", headers=alice.headers)).json()
        assert own["joined"] is False and own["title"] == first["title"]

    async def test_a_closed_task_is_not_joined(self, client, make_account, database_url) -> None:
        alice = await make_account("alice")
        first = (await submit(client, alice, CRASH))["task"]
        with psycopg.connect(database_url) as conn:
            conn.execute("UPDATE tasks SET workflow_stage = 'closed' WHERE id = %s", (first["id"],))
        second = await submit(client, alice, CRASH)
        assert second["linked"] is False and second["task"]["id"] != first["id"]

    async def test_a_different_report_opens_its_own_task(self, client, make_account) -> None:
        alice = await make_account("alice")
        first = (await submit(client, alice, CRASH))["task"]
        other = await submit(client, alice, EXPORT)
        assert other["linked"] is False and other["task"]["id"] != first["id"]


class TestReads:
    async def test_customers_see_their_own_and_staff_see_all(self, client, make_account, admin) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        sam = await make_account("sam", role="staff")
        mine = (await submit(client, alice, CRASH))["task"]
        theirs = (await submit(client, bob, EXPORT))["task"]
        for key in (mine["id"], mine["task_number"], mine["task_number"].lower()):
            response = await client.get(f"/api/v1/tasks/{key}", headers=alice.headers)
            assert response.status_code == 200 and response.json()["id"] == mine["id"]
        for path in (f"/api/v1/tasks/{theirs['id']}", f"/api/v1/tasks/{theirs['task_number']}/timeline"):
            assert_error(await client.get(path, headers=alice.headers), 404, "task_not_found")
        own = (await client.get("/api/v1/tasks", headers=alice.headers)).json()
        assert [t["id"] for t in own["items"]] == [mine["id"]] and own["total"] == 1
        for viewer in (sam, admin):
            seen = (await client.get("/api/v1/tasks", headers=viewer.headers)).json()
            assert {mine["id"], theirs["id"]} <= {t["id"] for t in seen["items"]}
            assert (await client.get(f"/api/v1/tasks/{theirs['id']}", headers=viewer.headers)).status_code == 200

    async def test_the_list_filters_searches_and_pages(self, client, make_account) -> None:
        sam = await make_account("sam", role="staff")
        crash = (await submit(client, sam, CRASH))["task"]
        wording = (await submit(client, sam, WORDING))["task"]
        await submit(client, sam, EXPORT)

        async def ids(**query) -> tuple[list[str], int]:
            page = (await client.get("/api/v1/tasks", params=query, headers=sam.headers)).json()
            return [t["id"] for t in page["items"]], page["total"]

        assert await ids(issue_type="suggestion") == ([wording["id"]], 1)
        assert await ids(q="CRASHES") == ([crash["id"]], 1)
        assert await ids(q="100%") == ([], 0)  # LIKE wildcards are literal
        assert await ids(stage="received") == ([], 0)
        assert (await ids(issue_type="bug"))[1] == 2
        first, total = await ids(limit=2)
        second, _ = await ids(limit=2, offset=2)
        assert total == 3 and len(first) == 2 and len(second) == 1 and not set(first) & set(second)
        response = await client.get("/api/v1/tasks", params={"priority_level": "P9"}, headers=sam.headers)
        assert_error(response, 422)

    async def test_the_list_filters_by_team_for_staff_and_by_category_for_everyone(
        self, client, make_account, admin, database_url
    ) -> None:
        alice, sam = await make_account("alice"), await make_account("sam", role="staff")
        crash = (await submit(client, alice, CRASH))["task"]
        export, wording = (await submit(client, sam, EXPORT))["task"], (await submit(client, sam, WORDING))["task"]
        teams = []
        for name, lead in (("Accounts", sam.id), ("Billing", None)):
            created = await client.post("/api/v1/teams", json={"name": name, "lead_id": lead}, headers=admin.headers)
            assert created.status_code == 201, created.text
            teams.append(created.json()["id"])
        with psycopg.connect(database_url) as conn:
            for task, team, category in ((crash, teams[0], "account"), (export, teams[1], "billing")):
                conn.execute("UPDATE tasks SET team_id = %s, category = %s WHERE id = %s", (team, category, task["id"]))
            conn.execute("UPDATE tasks SET category = 'ui' WHERE id = %s", (wording["id"],))

        async def ids(account: Account, **query) -> set[str]:
            response = await client.get("/api/v1/tasks", params=query, headers=account.headers)
            assert response.status_code == 200, response.text
            return {t["id"] for t in response.json()["items"]}

        assert await ids(admin, team_id=teams[0]) == {crash["id"]}
        assert await ids(admin, team_id=teams[1]) == {export["id"]}
        assert await ids(sam, team_id=teams[0]) == {crash["id"]}  # the team he leads
        assert await ids(sam, team_id=teams[1]) == set()  # still only what staff may read: not his team
        assert await ids(admin, category="billing") == {export["id"]}
        assert await ids(admin, category="ui", issue_type="suggestion") == {wording["id"]}
        assert await ids(admin, category="account", team_id=teams[1]) == set()
        assert await ids(alice, category="account") == {crash["id"]}
        assert await ids(alice, category="billing") == set()  # another's task, whatever its category
        refused = await client.get("/api/v1/tasks", params={"team_id": teams[0]}, headers=alice.headers)
        assert_error(refused, 403, "forbidden")
        for bad in ({"team_id": "accounts"}, {"category": "x" * 65}, {"category": "  "}):
            assert_error(await client.get("/api/v1/tasks", params=bad, headers=admin.headers), 422, "validation_error")


async def test_the_timeline_is_append_only(client, make_account, database_url) -> None:
    alice = await make_account("alice")
    task = (await submit(client, alice, CRASH))["task"]
    with psycopg.connect(database_url) as conn:
        for statement in ("UPDATE task_events SET reason = 'rewritten'", "DELETE FROM task_events"):
            with pytest.raises(psycopg.errors.RestrictViolation):
                conn.execute(statement)
            conn.rollback()
    assert [e["reason"] for e in await timeline(client, alice, task["id"])][-1] == "classified at intake"

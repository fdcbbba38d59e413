"""Teams (members, skills, on-call rota) and routing rules over HTTP, on a real migrated database."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from loopdesk.audit.models import AuditEvent
from loopdesk.feedback.models import Task
from loopdesk.users.models import SYSTEM_USER_ID
from tests.conftest import Account, assert_error

ROTA = [{"days": [4, 0, 0], "start": "22:00", "end": "06:00"}]


def member(account: Account, **fields) -> dict:
    return {"user_id": account.id, **fields}


async def create_team(client: httpx.AsyncClient, admin: Account, body: dict, status: int = 201) -> dict:
    response = await client.post("/api/v1/teams", json=body, headers=admin.headers)
    assert response.status_code == status, response.text
    return response.json()


async def put_rules(client: httpx.AsyncClient, admin: Account, rules: list[dict]) -> httpx.Response:
    return await client.put("/api/v1/routing-rules", json=rules, headers=admin.headers)


async def add_task(app, team_id: str, reporter: Account, stage: str) -> uuid.UUID:
    """A task routed to the team (written directly: the workflow that routes tasks is tested elsewhere)."""
    async with app.state.database.sessionmaker() as session, session.begin():
        task = Task(
            id=uuid.uuid4(),
            task_number=f"FB-2026-{uuid.uuid4().int % 10**9:09d}",
            title="Checkout fails",
            description="Paying by card fails.",
            source_channel="web",
            reporter_id=uuid.UUID(reporter.id),
            team_id=uuid.UUID(team_id),
            workflow_stage=stage,
        )
        session.add(task)
    return task.id


async def team_of(app, task_id: uuid.UUID) -> uuid.UUID | None:
    async with app.state.database.sessionmaker() as session:
        return await session.scalar(select(Task.team_id).where(Task.id == task_id))


class TestTeams:
    async def test_an_admin_creates_a_team_that_staff_read_with_its_members(self, client, admin, make_account) -> None:
        lead, ana = await make_account("lead", role="staff"), await make_account("ana", role="staff")
        body = {
            "name": "Payments",
            "description": "Cards and invoices",
            "region": "domestic",
            "lead_id": lead.id,
            "members": [
                member(ana, skills=["Billing", "billing", "db"], timezone="Asia/Shanghai", on_call=ROTA),
                member(lead, active=False),
            ],
        }
        created = await create_team(client, admin, body)
        assert (created["name"], created["region"], created["lead_id"]) == ("Payments", "domestic", lead.id)
        first, second = sorted(created["members"], key=lambda m: m["user_id"] != ana.id)
        assert (first["user_id"], first["skills"], first["timezone"]) == (ana.id, ["billing", "db"], "Asia/Shanghai")
        assert first["on_call"] == [{"days": [0, 4], "start": "22:00", "end": "06:00"}]
        assert isinstance(first["on_duty"], bool)
        assert (second["user_id"], second["timezone"], second["on_call"], second["active"]) == (
            lead.id,
            "UTC",
            [],
            False,
        )
        assert second["on_duty"] is True  # no windows: always on duty

        sam = await make_account("sam", role="staff")
        listed = await client.get("/api/v1/teams", headers=sam.headers)
        assert listed.status_code == 200 and listed.json() == [created]
        one = await client.get(f"/api/v1/teams/{created['id']}", headers=sam.headers)
        assert one.status_code == 200 and one.json() == created

    async def test_staff_may_not_change_teams_and_customers_may_not_read_them(
        self, client, admin, make_account
    ) -> None:
        sam, cleo = await make_account("sam", role="staff"), await make_account("cleo")
        assert_error(await client.post("/api/v1/teams", json={"name": "x"}, headers=sam.headers), 403, "forbidden")
        assert_error(await client.get("/api/v1/teams", headers=cleo.headers), 403, "forbidden")
        assert_error(await client.get("/api/v1/routing-rules", headers=cleo.headers), 403, "forbidden")
        assert_error(await put_rules(client, sam, []), 403, "forbidden")

    @pytest.mark.parametrize(
        ("field", "value", "loc"),
        [
            ("timezone", "Mars/Olympus_Mons", ["body", "members", 0, "timezone"]),
            ("timezone", "+08:00", ["body", "members", 0, "timezone"]),
            (
                "on_call",
                [{"days": [7], "start": "09:00", "end": "17:00"}],
                ["body", "members", 0, "on_call", 0, "days", 0],
            ),
            (
                "on_call",
                [{"days": [0], "start": "9:00", "end": "17:00"}],
                ["body", "members", 0, "on_call", 0, "start"],
            ),
            ("on_call", [{"days": [0], "start": "09:00", "end": "24:00"}], ["body", "members", 0, "on_call", 0, "end"]),
            ("on_call", [{"days": [], "start": "09:00", "end": "17:00"}], ["body", "members", 0, "on_call", 0, "days"]),
        ],
    )
    async def test_time_zones_and_on_call_windows_are_validated(
        self, client, admin, make_account, field, value, loc
    ) -> None:
        sam = await make_account("sam", role="staff")
        response = await client.post(
            "/api/v1/teams", json={"name": "ops", "members": [member(sam, **{field: value})]}, headers=admin.headers
        )
        error = assert_error(response, 422, "validation_error")
        assert [problem["loc"] for problem in error["detail"]] == [loc]

    async def test_members_and_leads_must_be_active_staff_or_admins(self, client, admin, make_account) -> None:
        cleo, sam = await make_account("cleo"), await make_account("sam", role="staff")
        gone = await make_account("gone", role="staff")
        deactivated = await client.patch(f"/api/v1/users/{gone.id}", json={"is_active": False}, headers=admin.headers)
        assert deactivated.status_code == 200, deactivated.text
        cases = [
            ({"members": [member(sam), member(cleo)]}, cleo.id, "members[1].user_id", "a customer"),
            ({"lead_id": cleo.id}, cleo.id, "lead_id", "a customer"),
            ({"members": [member(gone)]}, gone.id, "members[0].user_id", "deactivated"),
            ({"members": [{"user_id": str(SYSTEM_USER_ID)}]}, str(SYSTEM_USER_ID), "members[0].user_id", None),
            ({"lead_id": str(SYSTEM_USER_ID)}, str(SYSTEM_USER_ID), "lead_id", None),
            ({"members": [{"user_id": str(uuid.UUID(int=7))}]}, str(uuid.UUID(int=7)), "members[0].user_id", None),
        ]
        for body, user_id, field, reason in cases:
            error = assert_error(
                await client.post("/api/v1/teams", json={"name": "ops", **body}, headers=admin.headers),
                422,
                "not_staff",
            )
            assert (error["detail"]["user_id"], error["detail"]["field"]) == (user_id, field)
            assert user_id in error["message"]
            if reason:
                assert error["detail"]["reason"] == reason
        admin_member = await create_team(
            client, admin, {"name": "ops", "lead_id": admin.id, "members": [member(admin)]}
        )
        assert admin_member["members"][0]["user_id"] == admin.id
        listed = await client.get("/api/v1/teams", headers=admin.headers)
        assert [team["name"] for team in listed.json()] == ["ops"]  # nothing of the refused requests stayed

    async def test_a_user_listed_twice_is_refused(self, client, admin, make_account) -> None:
        sam = await make_account("sam", role="staff")
        response = await client.post(
            "/api/v1/teams", json={"name": "ops", "members": [member(sam), member(sam)]}, headers=admin.headers
        )
        error = assert_error(response, 422, "duplicate_member")
        assert error["detail"] == {"user_id": sam.id, "field": "members[1].user_id"}

    async def test_team_names_are_unique_ignoring_case(self, client, admin) -> None:
        await create_team(client, admin, {"name": "Payments"})
        response = await client.post("/api/v1/teams", json={"name": " payments "}, headers=admin.headers)
        assert_error(response, 409, "team_name_taken")
        other = await create_team(client, admin, {"name": "Mobile"})
        renamed = await client.patch(f"/api/v1/teams/{other['id']}", json={"name": "PAYMENTS"}, headers=admin.headers)
        assert_error(renamed, 409, "team_name_taken")

    async def test_patch_changes_only_the_fields_given(self, client, admin, make_account) -> None:
        lead, ana = await make_account("lead", role="staff"), await make_account("ana", role="staff")
        created = await create_team(
            client, admin, {"name": "ops", "region": "international", "lead_id": lead.id, "members": [member(ana)]}
        )
        url = f"/api/v1/teams/{created['id']}"
        patched = await client.patch(url, json={"description": "On call", "lead_id": None}, headers=admin.headers)
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["name"], body["description"], body["region"], body["lead_id"]) == (
            "ops",
            "On call",
            "international",
            None,
        )
        assert body["members"] == created["members"] and body["updated_at"] >= created["updated_at"]
        patched = await client.patch(url, json={"region": None, "lead_id": ana.id}, headers=admin.headers)
        assert (patched.json()["region"], patched.json()["lead_id"]) == (None, ana.id)
        assert_error(await client.patch(url, json={"name": None}, headers=admin.headers), 422, "validation_error")
        assert_error(await client.patch(url, json={"members": []}, headers=admin.headers), 422, "validation_error")
        cleo = await make_account("cleo")
        assert_error(await client.patch(url, json={"lead_id": cleo.id}, headers=admin.headers), 422, "not_staff")

    async def test_an_unknown_team_is_404(self, client, admin) -> None:
        url = f"/api/v1/teams/{uuid.uuid4()}"
        for response in (
            await client.get(url, headers=admin.headers),
            await client.patch(url, json={"description": "x"}, headers=admin.headers),
            await client.put(f"{url}/members", json=[], headers=admin.headers),
            await client.delete(url, headers=admin.headers),
        ):
            assert_error(response, 404, "team_not_found")

    async def test_put_members_replaces_the_whole_list(self, client, admin, make_account) -> None:
        ana, bo, cy = [await make_account(name, role="staff") for name in ("ana", "bo", "cy")]
        created = await create_team(
            client, admin, {"name": "ops", "members": [member(ana), member(bo, skills=["ios"])]}
        )
        url = f"/api/v1/teams/{created['id']}/members"
        replaced = await client.put(url, json=[member(bo, skills=["android"]), member(cy)], headers=admin.headers)
        assert replaced.status_code == 200, replaced.text
        assert [(m["user_id"], m["skills"]) for m in replaced.json()["members"]] == [(bo.id, ["android"]), (cy.id, [])]
        cleo = await make_account("cleo")
        assert_error(await client.put(url, json=[member(ana), member(cleo)], headers=admin.headers), 422, "not_staff")
        unchanged = await client.get(f"/api/v1/teams/{created['id']}", headers=admin.headers)
        assert [m["user_id"] for m in unchanged.json()["members"]] == [bo.id, cy.id]
        emptied = await client.put(url, json=[], headers=admin.headers)
        assert emptied.json()["members"] == []

    async def test_a_team_with_open_tasks_cannot_be_deleted(self, app, client, admin, make_account) -> None:
        cleo = await make_account("cleo")
        created = await create_team(client, admin, {"name": "ops"})
        open_task = await add_task(app, created["id"], cleo, "in_progress")
        error = assert_error(
            await client.delete(f"/api/v1/teams/{created['id']}", headers=admin.headers), 409, "team_in_use"
        )
        assert error["detail"]["open_tasks"] == 1
        assert await team_of(app, open_task) == uuid.UUID(created["id"])

    async def test_deleting_a_team_drops_its_rules_and_releases_its_finished_tasks(
        self, app, client, admin, make_account
    ) -> None:
        cleo = await make_account("cleo")
        doomed, kept = (
            await create_team(client, admin, {"name": "doomed"}),
            await create_team(client, admin, {"name": "kept"}),
        )
        rules = [{"module": "auth", "team_id": doomed["id"]}, {"team_id": kept["id"]}]
        assert (await put_rules(client, admin, rules)).status_code == 200
        finished = [await add_task(app, doomed["id"], cleo, stage) for stage in ("closed", "rejected")]

        response = await client.delete(f"/api/v1/teams/{doomed['id']}", headers=admin.headers)

        assert response.status_code == 204 and response.content == b""
        assert_error(await client.get(f"/api/v1/teams/{doomed['id']}", headers=admin.headers), 404, "team_not_found")
        remaining = (await client.get("/api/v1/routing-rules", headers=admin.headers)).json()
        assert [rule["team_id"] for rule in remaining] == [kept["id"]]
        assert [await team_of(app, task_id) for task_id in finished] == [None, None]

    async def test_changes_are_on_the_audit_trail(self, app, client, admin) -> None:
        created = await create_team(client, admin, {"name": "ops"})
        await client.patch(f"/api/v1/teams/{created['id']}", json={"description": "x"}, headers=admin.headers)
        await put_rules(client, admin, [{"team_id": created["id"]}])
        await client.delete(f"/api/v1/teams/{created['id']}", headers=admin.headers)
        async with app.state.database.sessionmaker() as session:
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        trail = [(e.action, e.actor_id) for e in events if e.subject_type in ("team", "routing_rules")]
        assert trail == [
            ("team.created", uuid.UUID(admin.id)),
            ("team.updated", uuid.UUID(admin.id)),
            ("routing_rules.replaced", uuid.UUID(admin.id)),
            ("team.deleted", uuid.UUID(admin.id)),
        ]


class TestRoutingRules:
    async def test_put_replaces_the_list_and_positions_follow_its_order(self, client, admin, make_account) -> None:
        ops, mobile = (
            await create_team(client, admin, {"name": "ops"}),
            await create_team(client, admin, {"name": "mobile"}),
        )
        first = [
            {
                "issue_type": "bug",
                "module": "iOS",
                "region": "international",
                "team_id": mobile["id"],
                "skill": "Swift",
            },
            {"category": "billing", "team_id": ops["id"]},
            {"team_id": ops["id"]},
        ]
        response = await put_rules(client, admin, first)
        assert response.status_code == 200, response.text
        saved = response.json()
        assert [rule["position"] for rule in saved] == [0, 1, 2]
        assert saved[0] | {"id": None, "created_at": None} == {
            "id": None,
            "position": 0,
            "issue_type": "bug",
            "category": None,
            "module": "iOS",
            "region": "international",
            "team_id": mobile["id"],
            "skill": "swift",
            "created_at": None,
        }
        sam = await make_account("sam", role="staff")
        assert (await client.get("/api/v1/routing-rules", headers=sam.headers)).json() == saved

        second = [{"team_id": ops["id"]}, {"module": "ios", "team_id": mobile["id"]}]
        replaced = (await put_rules(client, admin, second)).json()
        assert [(r["position"], r["team_id"], r["module"]) for r in replaced] == [
            (0, ops["id"], None),
            (1, mobile["id"], "ios"),
        ]
        assert not {r["id"] for r in replaced} & {r["id"] for r in saved}
        assert (await client.get("/api/v1/routing-rules", headers=admin.headers)).json() == replaced
        assert (await put_rules(client, admin, [])).json() == []

    async def test_a_rule_naming_an_unknown_team_refuses_the_whole_list(self, client, admin) -> None:
        ops = await create_team(client, admin, {"name": "ops"})
        before = (await put_rules(client, admin, [{"team_id": ops["id"]}])).json()
        ghost = str(uuid.uuid4())
        response = await put_rules(client, admin, [{"team_id": ops["id"]}, {"module": "x", "team_id": ghost}])
        error = assert_error(response, 422, "unknown_team")
        assert error["detail"] == {"position": 1, "team_id": ghost} and ghost in error["message"]
        assert (await client.get("/api/v1/routing-rules", headers=admin.headers)).json() == before

    @pytest.mark.parametrize(
        "rule",
        [
            {"issue_type": "feature", "team_id": "{ops}"},
            {"region": "mars", "team_id": "{ops}"},
            {"module": "", "team_id": "{ops}"},
            {"module": "auth"},
            {"team_id": "{ops}", "priority": "P0"},
        ],
    )
    async def test_malformed_rules_are_refused(self, client, admin, rule) -> None:
        ops = await create_team(client, admin, {"name": "ops"})
        body = {key: value.format(ops=ops["id"]) for key, value in rule.items()}
        assert_error(await put_rules(client, admin, [body]), 422, "validation_error")

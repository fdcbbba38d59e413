"""The feedback workflow over REST and its graph on the runtime: every stage reached in order, human gates
that cannot be skipped, verification failing back to work, reopening, rating, and the workflow's thread
out of every caller's reach."""

from __future__ import annotations

from tests.conftest import assert_error
from tests.feedback.workflow_helpers import CRASH, post, stages, task_at


class TestTheLoop:
    async def test_a_bug_report_goes_from_intake_to_closed_with_every_step_on_the_timeline(
        self, client, admin, make_account, payments
    ) -> None:
        alice = await make_account("alice")
        lead, engineer = payments["lead"], payments["engineer"]
        created = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]

        review = await task_at(client, lead, created["id"], "plan_review")
        assert (review["team_id"], review["assignee_id"]) == (payments["team"]["id"], engineer.id)
        assert review["log_analysis"]["related_logs_count"] == 0 and review["resolution_plan"]["steps"]

        assigned = await post(client, lead, f"/api/v1/tasks/{created['id']}/review", {"action": "approve"})
        assert assigned["workflow_stage"] == "assigned" and assigned["first_response_at"]
        working = await post(client, engineer, f"/api/v1/tasks/{created['id']}/progress", {"done": False})
        assert working["workflow_stage"] == "in_progress"
        await post(client, engineer, f"/api/v1/tasks/{created['id']}/progress", {"done": True, "notes": "fixed"})
        await task_at(client, alice, created["id"], "verification")  # the graph hands it to the reporter

        failed = await post(client, alice, f"/api/v1/tasks/{created['id']}/verify", {"result": "fail"})
        assert failed["workflow_stage"] == "in_progress" and failed["resolved_at"] is None
        await post(client, engineer, f"/api/v1/tasks/{created['id']}/progress", {"done": True})
        await task_at(client, alice, created["id"], "verification")
        closed = await post(client, alice, f"/api/v1/tasks/{created['id']}/verify", {"result": "pass"})
        assert closed["workflow_stage"] == "closed" and closed["closed_at"]
        rated = await post(client, alice, f"/api/v1/tasks/{created['id']}/csat", {"score": 5, "comment": "quick"})
        assert (rated["csat"], rated["csat_comment"]) == (5, "quick")

        assert await stages(client, lead, created["id"]) == [
            "received", "classified", "analyzed", "routed", "plan_review", "assigned", "in_progress",
            "resolved", "verification", "in_progress", "resolved", "verification", "closed",
        ]  # fmt: skip
        events = (await client.get(f"/api/v1/tasks/{created['id']}/timeline", headers=lead.headers)).json()
        kinds = {e["kind"] for e in events}
        assert {"team", "assignee", "plan", "progress", "csat"} <= kinds
        review_event = next(e for e in events if e["kind"] == "stage" and e["to_value"] == "assigned")
        assert review_event["actor_id"] == lead.id

    async def test_a_modified_plan_replaces_the_draft_and_names_the_assignee(
        self, client, make_account, payments
    ) -> None:
        alice = await make_account("alice")
        lead = payments["lead"]
        created = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
        await task_at(client, lead, created["id"], "plan_review")
        plan = {"summary": "Raise the gateway timeout", "steps": ["raise it", "watch the error rate"]}
        body = {"action": "modify", "plan": plan, "assignee_id": lead.id, "reason": "I will do it"}
        modified = await post(client, lead, f"/api/v1/tasks/{created['id']}/review", body)
        assert modified["workflow_stage"] == "assigned" and modified["assignee_id"] == lead.id
        assert modified["resolution_plan"]["steps"] == plan["steps"]

    async def test_a_rejected_plan_ends_the_loop_until_staff_reopen_it(self, client, make_account, payments) -> None:
        alice = await make_account("alice")
        lead = payments["lead"]
        created = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
        await task_at(client, lead, created["id"], "plan_review")
        assert_error(
            await client.post(f"/api/v1/tasks/{created['id']}/review", json={"action": "reject"}, headers=lead.headers),
            422,
        )  # a rejection says why
        body = {"action": "reject", "reason": "works as designed"}
        rejected = await post(client, lead, f"/api/v1/tasks/{created['id']}/review", body)
        assert rejected["workflow_stage"] == "rejected"
        assert_error(
            await client.post(f"/api/v1/tasks/{created['id']}/reopen", json={"reason": "no"}, headers=alice.headers),
            403,
            "action_not_allowed",
        )
        reopened = await post(client, lead, f"/api/v1/tasks/{created['id']}/reopen", {"reason": "it is a bug"})
        assert reopened["workflow_stage"] == "plan_review" and reopened["reopen_count"] == 1
        again = await post(client, lead, f"/api/v1/tasks/{created['id']}/review", {"action": "approve"})
        assert again["workflow_stage"] == "assigned"

    async def test_a_closed_task_is_reopened_by_its_reporter_back_to_work(self, client, make_account, payments) -> None:
        alice = await make_account("alice")
        lead, engineer = payments["lead"], payments["engineer"]
        task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, lead, task_id, "plan_review")
        await post(client, lead, f"/api/v1/tasks/{task_id}/review", {"action": "approve"})
        await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": True})
        await task_at(client, alice, task_id, "verification")
        await post(client, lead, f"/api/v1/tasks/{task_id}/close", {"reason": "no answer from the reporter"})
        reopened = await post(client, alice, f"/api/v1/tasks/{task_id}/reopen", {"reason": "it came back"})
        assert reopened["workflow_stage"] == "in_progress" and reopened["closed_at"] is None
        # The workflow took it up again: it waits for the assignee, who can resolve it once more.
        await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": True})
        await task_at(client, alice, task_id, "verification")


class TestGates:
    async def test_no_human_gate_can_be_skipped(self, client, make_account, payments) -> None:
        alice = await make_account("alice")
        lead, engineer = payments["lead"], payments["engineer"]
        task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, lead, task_id, "plan_review")
        for path, body, who in (
            ("progress", {"done": True}, engineer),
            ("verify", {"result": "pass"}, alice),
            ("close", {"reason": "done"}, lead),
            ("reopen", {"reason": "again"}, lead),
            ("request-update", {}, lead),
        ):
            error = assert_error(
                await client.post(f"/api/v1/tasks/{task_id}/{path}", json=body, headers=who.headers),
                409,
                "invalid_transition",
            )
            assert error["detail"]["stage"] == "plan_review"
        assert (await task_at(client, lead, task_id, "plan_review"))["workflow_stage"] == "plan_review"

    async def test_each_action_belongs_to_its_people(self, client, make_account, payments) -> None:
        alice, mallory = await make_account("alice"), await make_account("mallory")
        lead, engineer = payments["lead"], payments["engineer"]
        task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, lead, task_id, "plan_review")
        review = {"action": "approve"}
        assert_error(await client.post(f"/api/v1/tasks/{task_id}/review", json=review, headers=alice.headers), 403)
        assert_error(
            await client.post(f"/api/v1/tasks/{task_id}/review", json=review, headers=mallory.headers),
            404,
            "task_not_found",
        )
        await post(client, lead, f"/api/v1/tasks/{task_id}/review", review)
        assert_error(
            await client.post(f"/api/v1/tasks/{task_id}/progress", json={"done": False}, headers=lead.headers),
            403,
        )  # progress is the assignee's
        await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": False})
        assert_error(
            await client.post(f"/api/v1/tasks/{task_id}/csat", json={"score": 4}, headers=alice.headers),
            409,
        )  # only a closed task is rated
        assert_error(
            await client.post(f"/api/v1/tasks/{task_id}/assign", json={"assignee_id": alice.id}, headers=lead.headers),
            422,
            "not_staff",
        )

    async def test_staff_ask_for_progress_and_the_answer_loops_back_to_work(
        self, client, make_account, payments
    ) -> None:
        alice = await make_account("alice")
        lead, engineer = payments["lead"], payments["engineer"]
        task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, lead, task_id, "plan_review")
        await post(client, lead, f"/api/v1/tasks/{task_id}/review", {"action": "approve"})
        await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": False, "percent": 30})
        pending = await post(client, lead, f"/api/v1/tasks/{task_id}/request-update", {"reason": "status?"})
        assert pending["workflow_stage"] == "feedback_pending"
        back = await post(client, engineer, f"/api/v1/tasks/{task_id}/progress", {"done": False, "notes": "half"})
        assert back["workflow_stage"] == "in_progress"
        assert back["person_feedback"]["count"] == 2 and back["person_feedback"]["last"]["notes"] == "half"


class TestPriority:
    async def test_staff_change_the_priority_and_the_deadline_follows(self, client, make_account, payments) -> None:
        alice = await make_account("alice")
        lead = payments["lead"]
        task = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]
        body = {"level": "P0", "reason": "every checkout fails"}
        assert_error(await client.post(f"/api/v1/tasks/{task['id']}/priority", json=body, headers=alice.headers), 403)
        raised = await post(client, lead, f"/api/v1/tasks/{task['id']}/priority", body)
        assert raised["priority_level"] == "P0" and raised["sla_deadline"] < task["sla_deadline"]
        events = (await client.get(f"/api/v1/tasks/{task['id']}/timeline", headers=lead.headers)).json()
        change = [e for e in events if e["kind"] == "priority" and e["actor_id"] == lead.id]
        assert [(e["from_value"], e["to_value"], e["reason"]) for e in change] == [
            (task["priority_level"], "P0", "every checkout fails")
        ]


class TestTeamScope:
    async def test_staff_see_their_teams_tasks_the_unrouted_ones_and_admins_all(
        self, client, admin, make_account, payments
    ) -> None:
        alice = await make_account("alice")
        outsider = await make_account("outsider", role="staff")  # on no team
        routed = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, payments["lead"], routed, "plan_review")
        for who, status in ((payments["engineer"], 200), (payments["lead"], 200), (admin, 200), (outsider, 404)):
            response = await client.get(f"/api/v1/tasks/{routed}", headers=who.headers)
            assert response.status_code == status, (who.email, response.text)
        assert_error(
            await client.post(f"/api/v1/tasks/{routed}/review", json={"action": "approve"}, headers=outsider.headers),
            404,
            "task_not_found",
        )
        listed = (await client.get("/api/v1/tasks", headers=outsider.headers)).json()
        assert routed not in {t["id"] for t in listed["items"]}
        # Reassigned to the outsider, it is theirs to see.
        await post(client, payments["lead"], f"/api/v1/tasks/{routed}/assign", {"assignee_id": outsider.id})
        assert (await client.get(f"/api/v1/tasks/{routed}", headers=outsider.headers)).status_code == 200


class TestTheWorkflowThread:
    async def test_the_workflow_graph_is_out_of_every_callers_reach(self, client, admin, make_account) -> None:
        alice = await make_account("alice")
        staff = await make_account("staff", role="staff")
        info = (await client.get("/info", headers=alice.headers)).json()
        assert "feedback_workflow" not in info["graphs"]
        for who in (alice, staff, admin):
            run = await client.post(
                "/runs/wait",
                json={"assistant_id": "feedback_workflow", "input": {"task_id": "x"}},
                headers=who.headers,
            )
            assert run.status_code == 404, run.text
            made = await client.post("/assistants", json={"graph_id": "feedback_workflow"}, headers=who.headers)
            assert made.status_code == 404, made.text
        task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
        await task_at(client, admin, task_id, "plan_review")
        threads = (await client.post("/threads/search", json={}, headers=alice.headers)).json()
        assert threads == []  # the task's thread is the system's

    async def test_the_system_account_is_not_a_user_anyone_can_see_or_use(self, client, admin) -> None:
        users = (await client.get("/api/v1/users", headers=admin.headers)).json()
        assert all(u["email"] != "system@loopdesk.invalid" for u in users["items"])
        login = await client.post("/api/v1/auth/login", json={"email": "system@loopdesk.invalid", "password": "!"})
        assert login.status_code == 401

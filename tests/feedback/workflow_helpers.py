"""Shared by the workflow's tests (feedback, realtime): a report, polling for a stage, and the `payments`
fixture (a team with a lead and an engineer, and the rule that routes payment bugs to it), registered for the
whole suite through `pytest_plugins` in tests/conftest.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import Account

CRASH = {
    "title": "Checkout fails with a payment error",
    "description": "Paying for my order in checkout fails every time with 'payment gateway timeout'.",
    "affected_modules": ["payment"],
}


async def post(client: httpx.AsyncClient, account: Account, path: str, body: dict, status: int = 200) -> dict:
    response = await client.post(path, json=body, headers=account.headers)
    assert response.status_code == status, response.text
    return response.json()


async def task_at(client: httpx.AsyncClient, account: Account, task_id: str, stage: str) -> dict:
    """The task once the workflow graph has moved it to `stage` (within 20 s)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        task = (await client.get(f"/api/v1/tasks/{task_id}", headers=account.headers)).json()
        if task["workflow_stage"] == stage or asyncio.get_running_loop().time() > deadline:
            assert task["workflow_stage"] == stage, task
            return task
        await asyncio.sleep(0.1)


async def stages(client: httpx.AsyncClient, account: Account, task_id: str) -> list[str]:
    events = (await client.get(f"/api/v1/tasks/{task_id}/timeline", headers=account.headers)).json()
    return [e["to_value"] for e in events if e["kind"] in ("created", "stage")]


@pytest.fixture
async def payments(client, admin, make_account) -> dict:
    """A payments team (a lead and an engineer with the payment skill, always on duty) and a rule sending
    payment bugs to it."""
    lead = await make_account("lead", role="staff")
    engineer = await make_account("engineer", role="staff")
    team = await post(
        client,
        admin,
        "/api/v1/teams",
        {
            "name": "Payments",
            "region": None,
            "lead_id": lead.id,
            "members": [
                {"user_id": engineer.id, "skills": ["payment"], "timezone": "Asia/Shanghai"},
                {"user_id": lead.id, "skills": [], "timezone": "Europe/Berlin"},
            ],
        },
        201,
    )
    response = await client.put(
        "/api/v1/routing-rules",
        json=[{"module": "payment", "team_id": team["id"], "skill": "payment"}],
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    return {"team": team, "lead": lead, "engineer": engineer}

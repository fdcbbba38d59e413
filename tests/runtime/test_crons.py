"""Crons over real HTTP with the official langgraph-sdk client; firing by the worker's periodic job."""

import asyncio
from datetime import UTC, datetime

import httpx
import psycopg
from langgraph_sdk import get_client

from loopdesk.runtime.crons.service import next_run
from tests.conftest import assert_error


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


def test_next_run_reads_the_schedule_in_the_cron_time_zone():
    after = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    assert next_run("0 9 * * *", "Asia/Shanghai", after) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert next_run("0 9 * * *", None, after) == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    # 12:00 UTC is 07:00 in New York (UTC-5 in winter): 08:30 there is the same Monday, 13:30 UTC.
    assert next_run("30 8 * * 1-5", "America/New_York", after) == datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # weekdays only: Monday the 30th
    assert next_run("30 8 * * 1-5", "America/New_York", saturday) == datetime(2026, 11, 30, 13, 30, tzinfo=UTC)


async def test_create_search_patch_and_delete_crons(server_url, make_account):
    client = sdk(server_url, await make_account("ada"))
    thread = await client.threads.create()
    on_thread = await client.crons.create_for_thread(
        thread["thread_id"], "echo", schedule="0 9 * * *", input={"messages": ["daily"]}, timezone="Asia/Shanghai"
    )
    assert on_thread["thread_id"] == thread["thread_id"] and on_thread["timezone"] == "Asia/Shanghai"
    assert on_thread["next_run_date"].endswith(("01:00:00+00:00", "01:00:00Z"))
    stateless = await client.crons.create("echo", schedule="*/5 * * * *", input={"messages": ["x"]}, metadata={"k": 1})
    assert stateless["thread_id"] is None and stateless["payload"]["input"] == {"messages": ["x"]}
    assert len(await client.crons.search()) == 2
    assert [c["cron_id"] for c in await client.crons.search(thread_id=thread["thread_id"])] == [on_thread["cron_id"]]
    assert await client.crons.count(metadata={"k": 1}) == 1
    updated = await client.crons.update(stateless["cron_id"], schedule="0 0 * * *", enabled=False)
    assert updated["schedule"] == "0 0 * * *" and updated["enabled"] is False
    await client.crons.delete(stateless["cron_id"])
    assert await client.crons.count() == 1


async def test_bad_schedules_and_time_zones_are_422_and_others_crons_404(server_url, make_account):
    owner = await make_account("bo")
    other = await make_account("cy")
    cron = await sdk(server_url, owner).crons.create("echo", schedule="* * * * *")
    async with httpx.AsyncClient(base_url=server_url, headers=other.headers) as http:
        bad = assert_error(await http.post("/runs/crons", json={"assistant_id": "echo", "schedule": "every day"}), 422)
        assert "schedule" in str(bad["detail"])
        bad = assert_error(
            await http.post(
                "/runs/crons", json={"assistant_id": "echo", "schedule": "* * * * *", "timezone": "Mars/X"}
            ),
            422,
        )
        assert "timezone" in str(bad["detail"])
        assert_error(await http.delete(f"/runs/crons/{cron['cron_id']}"), 404, "cron_not_found")
        assert_error(await http.patch(f"/runs/crons/{cron['cron_id']}", json={"enabled": False}), 404)
        assert (await http.post("/runs/crons/search", json={})).json() == []


async def test_a_due_cron_creates_a_run_once_and_moves_to_its_next_date(server_url, make_account, database_url):
    client = sdk(server_url, await make_account("di"))
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(
        thread["thread_id"], "echo", schedule="0 0 1 1 *", input={"messages": ["tick"]}
    )
    with psycopg.connect(database_url, autocommit=True) as conn:  # make it due now
        conn.execute(
            "UPDATE crons SET next_run_date = now() - interval '1 second' WHERE cron_id = %s", (cron["cron_id"],)
        )
    for _ in range(200):  # the worker checks every 5 s
        runs = await client.runs.list(thread["thread_id"])
        if runs:
            break
        await asyncio.sleep(0.1)
    assert len(runs) == 1
    result = await client.runs.join(thread["thread_id"], runs[0]["run_id"])
    assert result["messages"] == ["tick", "echo: tick"]
    moved = (await client.crons.search(thread_id=thread["thread_id"]))[0]
    assert moved["next_run_date"].startswith(f"{datetime.now(UTC).year + 1}-01-01")
    await asyncio.sleep(6)  # another sweep passes: no second run
    assert len(await client.runs.list(thread["thread_id"])) == 1


# -- crons that outlive their owner's standing -----------------------------------------------------


async def _fire_now(app, database_url: str, cron_id: str) -> dict:
    """Make the cron due and fire the due crons; returns its row once it is no longer due (the worker's
    periodic job may take it first: the outcome is the same)."""
    from loopdesk.runtime.crons.service import fire_due_crons

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE crons SET next_run_date = now() - interval '1 second' WHERE cron_id = %s", (cron_id,))
    state = app.state
    for _ in range(100):
        await fire_due_crons(state.database, state.graphs, limiter=state.rate_limiter, settings=state.settings.sessions)
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT enabled, next_run_date > now() AS later FROM crons WHERE cron_id = %s", (cron_id,)
            ).fetchone()
        if not row[0] or row[1]:
            return {"enabled": row[0], "scheduled_later": row[1]}
        await asyncio.sleep(0.1)
    raise AssertionError(f"cron {cron_id} still due")


def _audit(database_url: str, cron_id: str) -> list[tuple[str, dict]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT action, detail FROM audit_events WHERE subject_type = 'cron' AND subject_id = %s ORDER BY id",
            (cron_id,),
        ).fetchall()
    return [(action, detail) for action, detail in rows]


def _runs_of(database_url: str, owner_id: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM runs WHERE owner_id = %s", (owner_id,)).fetchone()[0]


async def test_a_deactivated_owners_due_cron_is_skipped_disabled_and_audited(
    server_url, make_account, admin, app, database_url
):
    owner = await make_account("gone")
    client = sdk(server_url, owner)
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "echo", schedule="0 0 1 1 *", input={"x": 1})
    async with httpx.AsyncClient(base_url=server_url, headers=admin.headers) as http:
        deactivated = await http.patch(f"/api/v1/users/{owner.id}", json={"is_active": False})
        assert deactivated.status_code == 200, deactivated.text

    assert await _fire_now(app, database_url, cron["cron_id"]) == {"enabled": False, "scheduled_later": False}
    assert _runs_of(database_url, owner.id) == 0
    assert _audit(database_url, cron["cron_id"]) == [("cron.disabled", {"reason": "owner_inactive"})]


async def test_cron_firings_count_against_the_owners_run_limit_and_one_over_it_is_skipped(
    server_url, make_account, app, database_url
):
    app.state.settings.sessions.run_rate_limit = "2/minute"
    owner = await make_account("busy")
    client = sdk(server_url, owner)
    cron = await client.crons.create("echo", schedule="0 0 1 1 *", input={"messages": ["tick"]})
    async with httpx.AsyncClient(base_url=server_url, headers=owner.headers) as http:
        first = await http.post("/runs", json={"assistant_id": "echo", "input": {"messages": ["own"]}})
        assert first.status_code == 200, first.text

        # The cron's run is the owner's second: it is created, and it uses up the limit.
        assert await _fire_now(app, database_url, cron["cron_id"]) == {"enabled": True, "scheduled_later": True}
        assert _runs_of(database_url, owner.id) == 2
        assert_error(await http.post("/runs", json={"assistant_id": "echo", "input": {}}), 429, "rate_limited")

        # Over the limit, a firing is skipped, not queued; the cron stays scheduled.
        assert await _fire_now(app, database_url, cron["cron_id"]) == {"enabled": True, "scheduled_later": True}
    assert _runs_of(database_url, owner.id) == 2
    [(action, detail)] = _audit(database_url, cron["cron_id"])
    assert action == "cron.skipped" and detail["reason"] == "rate_limited" and detail["retry_after"] >= 1


async def test_a_customer_cannot_own_more_crons_than_the_cap(client, make_account, app):
    app.state.settings.runtime.max_crons_per_user = 2
    customer, staff = await make_account("many"), await make_account("ops", role="staff")
    thread = (await client.post("/threads", json={}, headers=customer.headers)).json()["thread_id"]
    body = {"assistant_id": "echo", "schedule": "0 9 * * *"}
    kept = await client.post("/runs/crons", json=body, headers=customer.headers)
    assert kept.status_code == 200, kept.text
    assert (await client.post(f"/threads/{thread}/runs/crons", json=body, headers=customer.headers)).status_code == 200

    for path in ("/runs/crons", f"/threads/{thread}/runs/crons"):
        error = assert_error(await client.post(path, json=body, headers=customer.headers), 409, "cron_limit_reached")
        assert error["detail"] == {"limit": 2}
    count = await client.post("/runs/crons/count", json={}, headers=customer.headers)
    assert count.json() == 2

    # A deleted cron frees its place; staff are not capped.
    assert (await client.delete(f"/runs/crons/{kept.json()['cron_id']}", headers=customer.headers)).status_code == 204
    assert (await client.post("/runs/crons", json=body, headers=customer.headers)).status_code == 200
    for _ in range(3):
        assert (await client.post("/runs/crons", json=body, headers=staff.headers)).status_code == 200

"""`/api/v1/notification-channels` (admins: secrets masked on read, kept when sent back masked, URLs checked
against the outbound policy) and `/api/v1/notifications/deliveries` (staff: the outbox, filtered and paged)."""

from __future__ import annotations

from sqlalchemy import select

from loopdesk.notifications.models import NotificationChannel
from tests.conftest import assert_error
from tests.notifications.conftest import add_task, add_user, notify_now

CHANNELS = "/api/v1/notification-channels"
DELIVERIES = "/api/v1/notifications/deliveries"
MASK = "********"


def channels() -> list[dict]:
    return [
        {
            "name": "robot",
            "kind": "dingtalk",
            "region": "domestic",
            "config": {"url": "http://127.0.0.1:9/robot/send?access_token=dt-token-1", "secret": "SEC-robot"},
        },
        {"name": "slack", "kind": "slack", "config": {"url": "http://127.0.0.1:9/services/T1/B2/slack-token-2"}},
        {
            "name": "hook",
            "kind": "webhook",
            "events": ["stage:*", "sla_warning"],
            "config": {"url": "http://127.0.0.1:9/hook", "secret": "hook-secret-3"},
        },
        {"name": "ops", "kind": "email", "config": {"recipients": ["Ops@Example.com"]}},
    ]


async def stored(database) -> dict[str, NotificationChannel]:
    async with database.sessionmaker() as session:
        return {channel.name: channel for channel in await session.scalars(select(NotificationChannel))}


async def test_an_admin_reads_the_channels_with_secrets_and_url_tokens_masked(client, admin):
    saved = await client.put(CHANNELS, json=channels(), headers=admin.headers)
    assert saved.status_code == 200, saved.text
    response = await client.get(CHANNELS, headers=admin.headers)

    assert response.status_code == 200
    for secret in ("dt-token-1", "SEC-robot", "slack-token-2", "hook-secret-3"):
        assert secret not in saved.text and secret not in response.text
    read = {channel["name"]: channel for channel in response.json()}
    assert read["robot"]["config"] == {"url": f"http://127.0.0.1:9/robot/send?access_token={MASK}", "secret": MASK}
    assert read["slack"]["config"] == {"url": f"http://127.0.0.1:9/services/T1/B2/{MASK}"}
    assert read["hook"]["config"] == {"url": "http://127.0.0.1:9/hook", "secret": MASK}
    assert read["hook"]["events"] == ["stage:*", "sla_warning"]
    assert read["ops"]["config"] == {"recipients": ["ops@example.com"]}
    assert read["robot"]["region"] == "domestic" and read["slack"]["region"] is None


async def test_a_put_that_sends_masked_values_back_keeps_the_stored_ones(client, admin, database):
    await client.put(CHANNELS, json=channels(), headers=admin.headers)
    before = await stored(database)
    read = (await client.get(CHANNELS, headers=admin.headers)).json()
    for channel in read:  # edit what an admin sees, send it back
        for key in ("created_at", "updated_at"):
            channel.pop(key)
        channel["enabled"] = channel["name"] != "slack"
        if channel["name"] == "ops":
            channel["name"] = "ops-mail"  # a rename: the id says which channel it is

    response = await client.put(CHANNELS, json=read, headers=admin.headers)

    assert response.status_code == 200, response.text
    after = await stored(database)
    robot_url = "http://127.0.0.1:9/robot/send?access_token=dt-token-1"
    assert after["robot"].config == {"url": robot_url, "secret": "SEC-robot"}
    assert after["slack"].config == {"url": "http://127.0.0.1:9/services/T1/B2/slack-token-2"}
    assert after["slack"].enabled is False
    assert after["hook"].config["secret"] == "hook-secret-3"
    assert after["ops-mail"].id == before["ops"].id
    assert {after[name].id for name in ("robot", "slack", "hook")} == {before[n].id for n in ("robot", "slack", "hook")}


async def test_a_new_secret_replaces_the_stored_one(client, admin, database):
    await client.put(CHANNELS, json=channels(), headers=admin.headers)
    changed = channels()
    changed[2]["config"]["secret"] = "rotated-secret"

    assert (await client.put(CHANNELS, json=changed, headers=admin.headers)).status_code == 200
    assert (await stored(database))["hook"].config["secret"] == "rotated-secret"


async def test_a_masked_value_no_stored_channel_has_is_refused(client, admin):
    await client.put(CHANNELS, json=channels(), headers=admin.headers)
    new = {"name": "new-robot", "kind": "dingtalk", "config": {"url": "http://127.0.0.1:9/x", "secret": MASK}}
    assert_error(await client.put(CHANNELS, json=[new], headers=admin.headers), 422, "masked_value_unknown")

    edited = channels()
    edited[1]["config"]["url"] = f"http://127.0.0.1:10/services/T1/B2/{MASK}"  # another port, the token masked
    assert_error(await client.put(CHANNELS, json=edited, headers=admin.headers), 422, "masked_value_unknown")


async def test_a_url_reaching_a_private_address_not_allow_listed_is_refused(client, admin):
    private = {"name": "inside", "kind": "webhook", "config": {"url": "http://10.1.2.3/hook"}}
    error = assert_error(await client.put(CHANNELS, json=[private], headers=admin.headers), 422, "unsafe_url")
    assert error["detail"] == {"field": "[0].config.url"}
    assert (await client.get(CHANNELS, headers=admin.headers)).json() == []


async def test_the_put_replaces_the_whole_list(client, admin):
    await client.put(CHANNELS, json=channels(), headers=admin.headers)
    response = await client.put(CHANNELS, json=channels()[3:], headers=admin.headers)
    assert [channel["name"] for channel in response.json()] == ["ops"]
    assert [channel["name"] for channel in (await client.get(CHANNELS, headers=admin.headers)).json()] == ["ops"]


async def test_repeated_names_and_unknown_teams_are_refused(client, admin):
    twice = [channels()[2], {**channels()[2], "name": "HOOK"}]
    assert_error(await client.put(CHANNELS, json=twice, headers=admin.headers), 422, "invalid_channel")
    team = {**channels()[3], "team_id": "00000000-0000-0000-0000-000000000001"}
    assert_error(await client.put(CHANNELS, json=[team], headers=admin.headers), 422, "invalid_channel")
    bad_host = {"name": "x", "kind": "webhook", "config": {"url": "http://a..b/hook"}}
    assert_error(await client.put(CHANNELS, json=[bad_host], headers=admin.headers), 422, "invalid_channel")
    wrong_config = {"name": "x", "kind": "slack", "config": {"recipients": ["a@example.com"]}}
    assert_error(await client.put(CHANNELS, json=[wrong_config], headers=admin.headers), 422, "validation_error")


async def test_only_admins_read_or_change_channels(client, make_account):
    for role in ("customer", "staff"):
        account = await make_account(role, role=role)
        assert_error(await client.get(CHANNELS, headers=account.headers), 403)
        assert_error(await client.put(CHANNELS, json=[], headers=account.headers), 403)
    assert_error(await client.get(CHANNELS), 401)


async def test_staff_list_the_deliveries_filtered_and_paged(client, make_account, database):
    staff = await make_account("staff", role="staff")
    reporter = await add_user(database, "ada")
    first, second = await add_task(database, reporter), await add_task(database, reporter)
    await notify_now(database, first, [reporter.id], event_id=None)
    await notify_now(database, second, [reporter.id], event="sla_warning", event_id=None)

    everything = (await client.get(DELIVERIES, headers=staff.headers)).json()
    assert everything["total"] == 4
    assert [item["id"] for item in everything["items"]] == sorted((i["id"] for i in everything["items"]), reverse=True)

    def listed(**params):
        return client.get(DELIVERIES, params=params, headers=staff.headers)

    page = (await listed(task_id=str(first.id))).json()
    assert page["total"] == 2 and {item["task_id"] for item in page["items"]} == {str(first.id)}
    pending = (await listed(status="pending")).json()
    assert pending["total"] == 2 and {item["kind"] for item in pending["items"]} == {"email"}
    sla = (await listed(event="sla_warning", kind="websocket")).json()
    assert sla["total"] == 1 and sla["items"][0]["recipient"] == str(reporter.id)
    assert sla["items"][0]["status"] == "sent"
    paged = (await listed(limit=1, offset=1)).json()
    assert (paged["total"], paged["limit"], paged["offset"], len(paged["items"])) == (4, 1, 1, 1)
    assert_error(await listed(status="lost"), 422, "validation_error")


async def test_customers_cannot_list_deliveries(client, make_account):
    customer = await make_account("cust")
    assert_error(await client.get(DELIVERIES, headers=customer.headers), 403)
    assert_error(await client.get(DELIVERIES), 401)

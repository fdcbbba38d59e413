import uuid

from tests.conftest import assert_error


async def test_a_customer_cannot_read_or_change_another_user(client, make_account):
    alice, bob = await make_account("alice"), await make_account("bob")
    assert_error(await client.get(f"/api/v1/users/{alice.id}", headers=bob.headers), 404, "not_found")
    assert_error(await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=bob.headers), 404, "not_found")
    assert_error(await client.patch(f"/api/v1/users/{alice.id}", json={"role": "admin"}, headers=bob.headers), 403)
    assert_error(await client.get("/api/v1/users", headers=bob.headers), 403)
    assert (await client.get(f"/api/v1/users/{bob.id}", headers=bob.headers)).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).json()["role"] == "customer"


async def test_staff_can_read_any_user_but_not_list_or_administer(client, make_account):
    customer, staff = await make_account("cy"), await make_account("stu", role="staff")
    response = await client.get(f"/api/v1/users/{customer.id}", headers=staff.headers)
    assert response.status_code == 200 and response.json()["email"] == customer.email
    assert_error(await client.get("/api/v1/users", headers=staff.headers), 403)


async def test_the_admin_lists_users_with_paging_and_filters(client, admin, make_account):
    for name in ("dan", "deb", "dom"):
        await make_account(name)
    page = await client.get("/api/v1/users", params={"limit": 2, "offset": 1}, headers=admin.headers)
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 4 and len(body["items"]) == 2 and body["offset"] == 1
    customers = (await client.get("/api/v1/users", params={"role": "customer"}, headers=admin.headers)).json()
    assert customers["total"] == 3
    found = (await client.get("/api/v1/users", params={"q": "deb"}, headers=admin.headers)).json()
    assert [u["display_name"] for u in found["items"]] == ["deb"]
    wildcard = (await client.get("/api/v1/users", params={"q": "%"}, headers=admin.headers)).json()
    assert wildcard["total"] == 0
    assert_error(await client.get("/api/v1/users", params={"limit": 0}, headers=admin.headers), 422)
    huge = await client.get("/api/v1/users", params={"offset": 621340465667143892992}, headers=admin.headers)
    assert_error(huge, 422, "validation_error")


async def test_the_admin_grants_roles_but_the_last_admin_stays(client, admin, make_account):
    user = await make_account("eli")
    promoted = await client.patch(f"/api/v1/users/{user.id}", json={"role": "staff"}, headers=admin.headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "staff"
    demote_self = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "customer"}, headers=admin.headers)
    assert_error(demote_self, 409, "conflict")
    assert_error(await client.patch(f"/api/v1/users/{admin.id}", json={"role": "boss"}, headers=admin.headers), 422)

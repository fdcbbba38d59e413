"""/api/v1/dedup over HTTP: who may see what, validation, the error envelope."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account, assert_error

CRASH = "The app crashes when I upload a photo"
CRASH_PARAPHRASE = "Uploading a picture makes the application crash"
BAD_BODIES = [
    {"kind": "bug"},
    {"text": CRASH},
    {"text": "", "kind": "bug"},
    {"text": CRASH, "kind": "Bug Report!"},
    {"text": CRASH, "kind": "bug", "item_id": "not-a-uuid"},
    {"text": "nul \u0000 inside", "kind": "bug"},
    {"text": CRASH, "kind": "bug", "extra": 1},
    {"text": ["a list"], "kind": "bug"},
]


async def check(client: httpx.AsyncClient, account: Account, text: str, kind: str = "bug", **extra) -> dict:
    response = await client.post(
        "/api/v1/dedup/check", json={"text": text, "kind": kind, **extra}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestCheck:
    async def test_customers_are_compared_with_their_own_items_only(
        self, client: httpx.AsyncClient, make_account, admin: Account
    ) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        item = str(uuid.uuid4())
        indexed = await check(client, alice, CRASH, item_id=item)
        assert (indexed["decision"], indexed["indexed"]) == ("none", True)

        assert (await check(client, bob, CRASH_PARAPHRASE))["matches"] == []
        own = await check(client, alice, CRASH_PARAPHRASE)
        assert (own["decision"], own["duplicate_of"]) == ("linked", item)
        staff = await check(client, admin, CRASH_PARAPHRASE)
        assert staff["decision"] == "linked"
        match = staff["matches"][0]
        assert (match["item_id"], match["decision"], match["excerpt"]) == (item, "linked", CRASH)
        assert match["similarity"] > 0.95 and staff["model"] == "multilingual-e5-small-q4"

    async def test_someone_elses_item_and_anonymous_callers_are_refused(
        self, client: httpx.AsyncClient, make_account
    ) -> None:
        alice, bob = await make_account("alice"), await make_account("bob")
        item = str(uuid.uuid4())
        await check(client, alice, CRASH, item_id=item)
        response = await client.post(
            "/api/v1/dedup/check", json={"text": "mine now", "kind": "bug", "item_id": item}, headers=bob.headers
        )
        assert_error(response, 404, "item_not_indexed")
        anonymous = await client.post("/api/v1/dedup/check", json={"text": CRASH, "kind": "bug"})
        assert_error(anonymous, 401, "not_authenticated")

    async def test_text_without_words_is_skipped_and_bad_bodies_get_422(
        self, client: httpx.AsyncClient, make_account
    ) -> None:
        account = await make_account()
        body = await check(client, account, " \t\n ", item_id=str(uuid.uuid4()))
        assert (body["decision"], body["reason"], body["indexed"]) == ("skipped", "no_text", False)
        for bad in BAD_BODIES:
            response = await client.post("/api/v1/dedup/check", json=bad, headers=account.headers)
            assert_error(response, 422, "validation_error")


class TestUnlink:
    async def test_staff_unlink_sticks(self, client: httpx.AsyncClient, make_account, admin: Account) -> None:
        staff = await make_account("triager", role="staff")
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        await check(client, staff, CRASH, item_id=first)
        assert (await check(client, staff, CRASH_PARAPHRASE, item_id=second))["decision"] == "linked"

        response = await client.post(
            f"/api/v1/dedup/links/{second}/unlink", json={"other_id": first}, headers=staff.headers
        )
        assert response.status_code == 200, response.text
        link = response.json()
        assert (link["item_id"], link["duplicate_of"], link["status"], link["decided_by"]) == (
            second,
            first,
            "unlinked",
            staff.id,
        )
        again = await check(client, admin, CRASH_PARAPHRASE, item_id=second)
        assert again["decision"] == "none"
        assert [(m["item_id"], m["decision"]) for m in again["matches"]] == [(first, "unlinked")]

    async def test_customers_unknown_items_and_self_pairs_are_refused(
        self, client: httpx.AsyncClient, make_account, admin: Account
    ) -> None:
        customer = await make_account()
        response = await client.post(
            f"/api/v1/dedup/links/{uuid.uuid4()}/unlink", json={"other_id": str(uuid.uuid4())}, headers=customer.headers
        )
        assert_error(response, 403, "forbidden")
        item = str(uuid.uuid4())
        await check(client, admin, CRASH, item_id=item)
        url = f"/api/v1/dedup/links/{item}/unlink"
        missing = await client.post(url, json={"other_id": str(uuid.uuid4())}, headers=admin.headers)
        assert_error(missing, 404, "item_not_indexed")
        assert_error(await client.post(url, json={"other_id": item}, headers=admin.headers), 400, "bad_request")
        assert_error(await client.post(url, json={}, headers=admin.headers), 422, "validation_error")
        bad_path = await client.post("/api/v1/dedup/links/nope/unlink", json={"other_id": item}, headers=admin.headers)
        assert_error(bad_path, 422, "validation_error")


class TestClusters:
    async def test_staff_see_clusters_with_counts(self, client: httpx.AsyncClient, make_account) -> None:
        staff = await make_account("triager", role="staff")
        texts = ["Please add a dark mode", "I'd love a dark theme option for night use", "希望增加夜间模式"]
        ids = [str(uuid.uuid4()) for _ in texts]
        for item, text in zip(ids, texts, strict=True):
            await check(client, staff, text, kind="suggestion", item_id=item)
        response = await client.get("/api/v1/dedup/clusters", params={"kind": "suggestion"}, headers=staff.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["kind"], body["threshold"]) == ("suggestion", 0.89)
        [cluster] = body["clusters"]
        assert cluster["count"] == 3 and set(cluster["item_ids"]) == set(ids)
        assert cluster["representative_text"] in texts

    async def test_customers_are_refused_and_bad_queries_get_422(
        self, client: httpx.AsyncClient, make_account, admin: Account
    ) -> None:
        customer = await make_account()
        response = await client.get("/api/v1/dedup/clusters", headers=customer.headers)
        assert_error(response, 403, "forbidden")
        for params in ({"threshold": "2"}, {"min_size": "1"}, {"kind": "NOPE!"}, {"limit": "0"}):
            response = await client.get("/api/v1/dedup/clusters", params=params, headers=admin.headers)
            assert_error(response, 422, "validation_error")

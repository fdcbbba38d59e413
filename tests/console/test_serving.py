"""The console is served by loopdesk itself: `/` and its client routes answer with the app's page (with a strict
content security policy), its hashed assets are cached for good, nothing else is shadowed, and nothing outside
the build can be read through it."""

from __future__ import annotations

import pytest

import loopdesk.console as console


@pytest.fixture
def build(tmp_path, monkeypatch):
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>loopdesk</title><div id=root></div>")
    (static / "assets" / "index-abc123.js").write_text("console.log('app')")
    (static / "assets" / "index-abc123.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not for you")
    monkeypatch.setattr(console, "STATIC", static)
    return static


@pytest.mark.parametrize("path", ["/", "/login", "/chat", "/chat/3f0c", "/approvals", "/board", "/feedback/12"])
async def test_the_page_answers_the_root_and_every_client_route(client, build, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<div id=root>" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"


async def test_assets_are_served_with_their_type_and_cached_for_good(client, build):
    response = await client.get("/assets/index-abc123.js")
    assert response.status_code == 200 and response.text == "console.log('app')"
    assert "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]
    assert (await client.get("/assets/index-abc123.css")).headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/assets/missing.js", "/assets/../secret.txt", "/assets/..%2Fsecret.txt"])
async def test_nothing_outside_the_build_is_served(client, build, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert "not for you" not in response.text


async def test_other_paths_keep_their_answers(client, build):
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/api/v1/health")).json()["status"] == "ok"
    assert (await client.get("/api/v1/users/me")).status_code == 401  # the API itself stays authenticated


async def test_without_a_build_the_root_leads_to_the_api_docs(client, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "STATIC", tmp_path / "nothing")
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"

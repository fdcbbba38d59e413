"""A browser opening the server's root lands somewhere useful."""

from __future__ import annotations


async def test_the_root_redirects_to_the_api_docs(client):
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"
    assert (await client.get("/docs")).status_code == 200

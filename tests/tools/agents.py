"""Helpers for tests that drive the general agent with a scripted model over HTTP."""

from __future__ import annotations

from typing import Any

import httpx


async def make_agent(
    client: httpx.AsyncClient, headers: dict[str, str] | None, turns: list[dict[str, Any]], tools=None
) -> str:
    """An assistant of the general agent playing `turns`. The model and tools are operator settings, so the
    assistant is the organisation's, made by the admin (`headers` None) or by a staff account's headers;
    every signed-in user may run it."""
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login

    configurable: dict[str, Any] = {"model": {"provider": "scripted", "script": {"turns": turns}}}
    if tools is not None:
        configurable["tools"] = tools
    if headers is None:
        headers = {"Authorization": f"Bearer {await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
    response = await client.post(
        "/assistants", json={"graph_id": "agent", "config": {"configurable": configurable}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["assistant_id"]


async def start_thread(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/threads", json={}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["thread_id"]


async def say(client: httpx.AsyncClient, headers, thread_id: str, assistant_id: str, text: str) -> dict[str, Any]:
    """Run the assistant on a user message and wait for the run to end; returns the thread's values."""
    response = await client.post(
        f"/threads/{thread_id}/runs/wait",
        json={"assistant_id": assistant_id, "input": {"messages": [{"role": "user", "content": text}]}},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def settle(client: httpx.AsyncClient, headers, thread_id: str) -> dict[str, Any]:
    """Wait for the thread's runs to end (a resume queued by a decision included); returns the thread."""
    import asyncio

    for _ in range(600):
        thread = (await client.get(f"/threads/{thread_id}", headers=headers)).json()
        if thread["status"] != "busy":
            return thread
        await asyncio.sleep(0.05)
    raise AssertionError(f"thread {thread_id} still busy")


def tool_messages(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in values.get("messages", []) if m.get("type") == "tool"]

"""Runs the task suite's scenarios against a loopdesk server and the demo backends, over HTTP like any client:
the customer chats with the `support` assistant, staff decide approvals, and each scenario is judged by the
backend's database afterwards (scenarios.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loopdesk.support.suite.scenarios import Decide, Fault, Say, Scenario

ASSISTANT = "support"
_STATUSES = ("pending", "approved", "edited", "rejected", "expired")


@dataclass(frozen=True)
class Backend:
    """A running demo backend: where it answers and the SQLite file it keeps its data in."""

    url: str
    db: Path

    def rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return [tuple(row) for row in conn.execute(sql, args)]

    def writes(self) -> Counter[str]:
        """The write operations the backend ran (its audit of successful calls)."""
        return Counter(op for (op,) in self.rows("SELECT operation FROM audit WHERE status < 400"))


@dataclass
class Outcome:
    scenario: Scenario
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    replies: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class SuiteRunner:
    """One customer and one staff member (bearer headers) on a loopdesk reached through `client`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        customer: Mapping[str, str],
        staff: Mapping[str, str],
        backends: Mapping[str, Backend],
        turn_timeout: float = 120.0,
    ) -> None:
        self.client = client
        self.customer = dict(customer)
        self.staff = dict(staff)
        self.backends = backends
        self.turn_timeout = turn_timeout

    async def run(self, scenario: Scenario) -> Outcome:
        outcome = Outcome(scenario)
        started = time.monotonic()
        try:
            await self._run(scenario, outcome)
        except (httpx.HTTPError, _Unexpected, TimeoutError) as exc:
            outcome.problems.append(f"{type(exc).__name__}: {exc}")
        outcome.seconds = time.monotonic() - started
        return outcome

    async def _run(self, scenario: Scenario, outcome: Outcome) -> None:
        backend = self.backends[scenario.template]
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as demo:  # the backend's own test routes
            _expect(await demo.post("/_reset"), 204)
            thread = (await self._call("POST", "/threads", json={}, headers=self.customer))["thread_id"]
            for step in scenario.steps:
                if isinstance(step, Fault):
                    body = {"operation_id": step.operation_id, "status": step.status, "times": 1}
                    _expect(await demo.post("/_faults", json=body), 200)
                elif isinstance(step, Say):
                    await self._say(thread, step.text)
                else:
                    await self._decide(thread, step, outcome)
            await self._settled(thread)
            _expect(await demo.delete("/_faults"), 204)
        state = await self._call("GET", f"/threads/{thread}/state", headers=self.customer)
        messages = (state.get("values") or {}).get("messages") or []
        outcome.replies = [str(m["content"]) for m in messages if m.get("type") == "ai" and m.get("content")]
        called = [c["name"] for m in messages if m.get("type") == "ai" for c in m.get("tool_calls") or []]
        self._judge(scenario, backend, outcome, called, await self._approvals(thread), await self._escalated(thread))

    def _judge(
        self,
        scenario: Scenario,
        backend: Backend,
        outcome: Outcome,
        called: list[str],
        approvals: list[dict[str, Any]],
        escalated: bool,
    ) -> None:
        problems = outcome.problems
        writes = backend.writes()
        if writes != Counter(scenario.writes):
            problems.append(f"backend writes {dict(writes)}, expected {scenario.writes}")
        for check in scenario.checks:
            rows = backend.rows(check.sql, check.args)
            if rows != check.rows:
                problems.append(f"{check.sql} gave {rows}, expected {check.rows}")
        if escalated != scenario.escalated:
            problems.append(f"escalated: {escalated}, expected {scenario.escalated}")
        if scenario.approvals is not None and len(approvals) != scenario.approvals:
            problems.append(f"{len(approvals)} approvals asked, expected {scenario.approvals}")
        if scenario.tools_called is False and called:
            problems.append(f"tools called: {called}, expected none")
        for tool in scenario.must_call:
            if tool not in called:
                problems.append(f"{tool} was not called (calls: {called})")
        text = "\n".join(outcome.replies)
        for words in scenario.said:
            if words not in text:
                problems.append(f"no reply says {words!r}")
        for fact in scenario.answer_holds:
            if fact not in text:
                problems.append(f"the replies do not carry {fact!r} (the backend's value)")

    async def _say(self, thread: str, text: str) -> dict[str, Any]:
        body = {"assistant_id": ASSISTANT, "input": {"messages": [{"role": "user", "content": text}]}}
        return await self._call(
            "POST", f"/threads/{thread}/runs/wait", json=body, headers=self.customer, timeout=self.turn_timeout
        )

    async def _decide(self, thread: str, step: Decide, outcome: Outcome) -> None:
        approvals = await self._approvals(thread)
        pending = [a for a in approvals if a["status"] == "pending"]
        target = (pending or approvals or [None])[0]
        if target is None:
            if step.allowed:
                outcome.problems.append(f"nothing to {step.decision}: the conversation asked for no approval")
            return
        headers = self.staff if step.by == "staff" else self.customer
        response = await self.client.post(
            f"/api/v1/approvals/{target['id']}/{step.decision}", json={}, headers=headers, timeout=30
        )
        if step.allowed and response.status_code != 200:
            outcome.problems.append(f"{step.by} {step.decision}: {response.status_code} {response.text[:200]}")
        elif not step.allowed and response.status_code < 400:
            outcome.problems.append(f"{step.by} could {step.decision} (it must be refused)")
        if response.status_code >= 500:
            outcome.problems.append(f"{step.by} {step.decision}: server error {response.status_code}")
        await self._settled(thread)

    async def _approvals(self, thread: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for status in _STATUSES:
            page = await self._call(
                "GET", "/api/v1/approvals", params={"thread_id": thread, "status": status}, headers=self.staff
            )
            found += page["items"]
        return sorted(found, key=lambda a: a["created_at"], reverse=True)

    async def _escalated(self, thread: str) -> bool:
        for status in ("open", "taken", "closed"):
            page = await self._call(
                "GET", "/api/v1/support/inbox", params={"status": status, "limit": 200}, headers=self.staff
            )
            if any(item["thread_id"] == thread for item in page["items"]):
                return True
        return False

    async def _settled(self, thread: str) -> None:
        deadline = time.monotonic() + self.turn_timeout
        while time.monotonic() < deadline:
            state = await self._call("GET", f"/threads/{thread}", headers=self.customer)
            if state["status"] != "busy":
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"thread {thread} still busy after {self.turn_timeout:.0f} s")

    async def _call(self, method: str, url: str, *, expect: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 30)
        return _expect(await self.client.request(method, url, **kwargs), expect)


class _Unexpected(Exception):
    pass


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        request = response.request
        raise _Unexpected(f"{request.method} {request.url.path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None

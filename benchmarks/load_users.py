"""The virtual users of `make load`, each a loop with think times until the run's deadline:

- **chat customers** open a WebSocket (`/ws`) per conversation and talk to the `support` assistant: order look-ups,
  small refunds (a write: the turn stops at an approval and continues once staff decide), vague and out-of-scope
  requests; now and then they report a problem (`POST /api/v1/feedback`) and wait on their socket until the
  workflow has drafted its plan (`task_update` to `plan_review`);
- **session customers** do the same through REST sessions (`/api/v1/sessions/{id}/execute`), polling the session
  while a write waits for staff, and file reports without following them;
- **staff** poll the pending approvals (each its own share, as a team splits an inbox) and approve most of them,
  reject some; they read the board (`/api/v1/tasks`, a task's timeline), the conversations and the analytics.

Every request goes to the next API process in turn (the load generator's round robin stands in for a balancer)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from feedback import reports
from load_metrics import Recorder
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

ASSISTANT = "support"
TURN_TIMEOUT = 60.0
APPROVAL_TIMEOUT = 180.0  # staff poll every few seconds; a decision slower than this is a failure of the run
PLAN_TIMEOUT = 120.0

READS = (
    "Where is my order A1001?",
    "我的订单A1005到哪了？",
    "Can you check order A1004 for me?",
    "What is the status of order A1008?",
    "Has my order A1007 been delivered?",
    "订单A1003现在是什么状态？",
)
VAGUE = ("I have a problem with my order", "我的订单有点问题")
OUT_OF_SCOPE = ("What's the capital of France?", "Can you recommend a good movie for tonight?")
# Refundable orders and a few cents each, so the shop's money lasts the whole run (A1003 alone holds 899.00).
REFUNDABLE = ("A1003", "A1003", "A1001", "A1005", "A1007")
REASONS = ("it arrived scratched", "the colour was wrong", "one item was missing", "the box was damaged")


def _refund(rng: random.Random, *, chinese: bool = True) -> str:
    order, amount = rng.choice(REFUNDABLE), f"{rng.randint(10, 60) / 100:.2f}"
    if chinese and rng.random() < 0.3:
        return f"请帮我把订单{order}退款 {amount} 元，因为包装坏了"
    return f"please refund {amount} for order {order} because {rng.choice(REASONS)}"


def next_message(rng: random.Random) -> str | None:
    """A customer's next message; None: report a problem instead of chatting."""
    roll = rng.random()
    if roll < 0.50:
        return rng.choice(READS)
    if roll < 0.70:
        text = _refund(rng)
        return text[0].upper() + text[1:]
    if roll < 0.80:
        return rng.choice(VAGUE)
    if roll < 0.85:
        return rng.choice(OUT_OF_SCOPE)
    if roll < 0.90:
        return f"{rng.choice(READS[:1] + READS[2:3])} Also {_refund(rng, chinese=False)}"
    return None


def think(rng: random.Random, mean: float, scale: float) -> float:
    """Exponential think time, clipped to [mean / 8, 4 × mean] (nobody answers in 0 ms or never)."""
    return min(max(rng.expovariate(1 / mean), mean / 8), 4 * mean) * scale


@dataclass
class Account:
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class RoundRobin:
    """One keep-alive HTTP client per API process; each request or socket goes to the next process."""

    def __init__(self, bases: list[str], connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.clients = [httpx.AsyncClient(base_url=b, timeout=TURN_TIMEOUT, limits=limits) for b in bases]
        self.ws_bases = [b.replace("http://", "ws://") for b in bases]
        self._turn = itertools.count()

    def http(self) -> httpx.AsyncClient:
        return self.clients[next(self._turn) % len(self.clients)]

    def ws(self) -> str:
        return self.ws_bases[next(self._turn) % len(self.ws_bases)]

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))


class Reports:
    """Distinct bug reports (benchmarks/feedback.py's generator); one in ten repeats an earlier one word for word,
    which intake joins to the open task (200, `linked`) instead of opening another."""

    def __init__(self, seed: int = 22) -> None:
        self._fresh: Iterator[dict] = iter(reports(20_000))
        self._sent: list[dict] = []
        self._rng = random.Random(seed)

    def next(self) -> dict:
        if self._sent and self._rng.random() < 0.1:
            return self._rng.choice(self._sent)
        report = next(self._fresh)
        self._sent.append(report)
        return report


@dataclass
class Shared:
    recorder: Recorder
    balancer: RoundRobin
    reports: Reports
    mix: Counter[str]
    deadline: float
    think_scale: float


class ChatSocket:
    """A customer's WebSocket: one reader routes acks by `ref`, run frames by thread, `plan_review` by task."""

    def __init__(self, ws: ClientConnection, mix: Counter[str]) -> None:
        self.ws = ws
        self.mix = mix
        self.acks: dict[str, asyncio.Future[dict]] = {}
        self.runs: defaultdict[str, asyncio.Queue[dict]] = defaultdict(asyncio.Queue)
        self.first_token: dict[str, float] = {}
        self.plans: dict[str, asyncio.Future[float]] = {}
        self.reader = asyncio.create_task(self._read())

    def plan_reached(self, task_id: str) -> asyncio.Future[float]:
        return self.plans.setdefault(task_id, asyncio.get_running_loop().create_future())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind in ("ack", "error") and frame.get("ref") in self.acks:
                future = self.acks.pop(frame["ref"])
                if not future.done():
                    future.set_result(frame)
            elif kind == "token":
                self.first_token.setdefault(frame.get("run_id"), time.monotonic())
            elif kind in ("interrupt", "message_complete", "error") and frame.get("thread_id"):
                self.runs[frame["thread_id"]].put_nowait(frame)
            elif kind == "task_update" and frame.get("to_value") == "plan_review":
                future = self.plan_reached(frame["task_id"])
                if not future.done():
                    future.set_result(time.monotonic())
            if kind == "handoff":
                self.mix[f"handoff to {frame.get('agent')} ({frame.get('intent')})"] += 1
            elif kind == "tool_call":
                self.mix[f"tool call {frame.get('tool')}"] += 1
            elif kind in ("clarification", "interrupt"):
                self.mix[kind] += 1

    async def wait(self, awaitable: Any, seconds: float) -> Any:
        """The awaitable's result; TimeoutError after `seconds`, ConnectionError if the socket ends first."""
        waiter = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({waiter, self.reader}, timeout=max(seconds, 0.001), return_when="FIRST_COMPLETED")
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        if self.reader in done:
            raise ConnectionError("the server closed the socket")
        raise TimeoutError

    async def send_message(self, text: str, thread_id: str | None) -> dict:
        ref = uuid.uuid4().hex[:12]
        self.acks[ref] = asyncio.get_running_loop().create_future()
        frame = {"type": "message", "id": ref, "content": text, "assistant_id": ASSISTANT}
        if thread_id:
            frame["thread_id"] = thread_id
        await self.ws.send(json.dumps(frame))
        return await self.wait(self.acks[ref], TURN_TIMEOUT)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


async def _run_frame(sock: ChatSocket, thread: str, deadline: float) -> dict:
    return await sock.wait(sock.runs[thread].get(), deadline - time.monotonic())


async def ws_turn(shared: Shared, sock: ChatSocket, thread: str | None, text: str) -> str | None:
    """One chat turn over the socket; when it stops at an approval, also the wait until the resumed run ends.
    Returns the thread (a first message creates it)."""
    rec = shared.recorder
    started = time.monotonic()
    ack = await sock.send_message(text, thread)
    if ack["type"] == "error":
        rec.error("ws.turn", f"frame error {ack.get('code')}")
        return thread
    thread, run = ack["thread_id"], ack["run_id"]
    deadline = started + TURN_TIMEOUT
    while True:
        frame = await _run_frame(sock, thread, deadline)
        if frame.get("run_id") != run or frame["type"] == "interrupt":
            continue
        if frame["type"] == "error":
            rec.error("ws.turn", f"frame error {frame.get('code')}")
            return thread
        break
    status = frame["status"]
    if status not in ("success", "interrupted"):
        rec.error("ws.turn", f"run {status}")
        return thread
    rec.ok("ws.turn", time.monotonic() - started)
    if run in sock.first_token:
        rec.ok("ws.first_token", sock.first_token.pop(run) - started)
    if status == "interrupted":  # a write waits for staff: their decision resumes the thread in a new run
        asked = time.monotonic()
        try:
            while True:
                frame = await _run_frame(sock, thread, asked + APPROVAL_TIMEOUT)
                if frame["type"] == "message_complete" and frame.get("run_id") != run:
                    break
        except TimeoutError:
            rec.error("ws.approval_roundtrip", "timeout")
            return thread
        if frame["status"] == "success":
            rec.ok("ws.approval_roundtrip", time.monotonic() - asked)
        else:
            rec.error("ws.approval_roundtrip", f"run {frame['status']}")
    return thread


async def file_report(shared: Shared, account: Account, sock: ChatSocket | None) -> None:
    """`POST /api/v1/feedback`; with a socket, the wait until the workflow has drafted the plan."""
    rec = shared.recorder
    started = time.monotonic()
    response = await rec.http(
        "feedback.intake", shared.balancer.http(), "POST", "/api/v1/feedback",
        json=shared.reports.next(), headers=account.headers, expect=(200, 201),
    )  # fmt: skip
    if response is None:
        return
    if response.status_code == 200:
        shared.mix["feedback joined an open task"] += 1
        return
    shared.mix["feedback opened a task"] += 1
    if sock is None:
        return
    try:
        reached = await sock.wait(sock.plan_reached(response.json()["task"]["id"]), PLAN_TIMEOUT)
    except TimeoutError:
        rec.error("feedback.to_plan_review", "timeout")
        return
    rec.ok("feedback.to_plan_review", reached - started)


async def chat_customer(shared: Shared, account: Account, seed: int) -> None:
    rng = random.Random(seed)
    rec = shared.recorder
    while time.monotonic() < shared.deadline:
        started = time.monotonic()
        url = f"{shared.balancer.ws()}/ws?token={account.token}"
        try:
            ws = await connect(url, open_timeout=30, max_size=None)
        except (OSError, WebSocketException, TimeoutError) as exc:
            rec.error("ws.connect", type(exc).__name__)
            await asyncio.sleep(think(rng, 8, shared.think_scale))
            continue
        rec.ok("ws.connect", time.monotonic() - started)
        sock = ChatSocket(ws, shared.mix)
        thread: str | None = None
        try:
            for _ in range(rng.randint(1, 4)):  # one conversation: a few turns on one thread, then the socket closes
                if time.monotonic() >= shared.deadline:
                    break
                text = next_message(rng)
                try:
                    if text is None:
                        await file_report(shared, account, sock)
                    else:
                        thread = await ws_turn(shared, sock, thread, text)
                except TimeoutError:
                    rec.error("ws.turn", "timeout")
                except (ConnectionError, WebSocketException) as exc:
                    rec.error("ws.turn", type(exc).__name__)
                    break
                except Exception as exc:  # a surprise in an answer: counted, and the user carries on
                    rec.error("ws.turn" if text else "feedback.intake", f"unexpected {type(exc).__name__}")
                await asyncio.sleep(think(rng, 8, shared.think_scale))
        finally:
            with contextlib.suppress(Exception):
                await sock.close()


async def session_customer(shared: Shared, account: Account, seed: int) -> None:
    rng = random.Random(seed)
    rec = shared.recorder
    while time.monotonic() < shared.deadline:
        created = await rec.http(
            "rest.session_create", shared.balancer.http(), "POST", "/api/v1/sessions",
            json={"assistant_id": ASSISTANT}, headers=account.headers, expect=(201,),
        )  # fmt: skip
        if created is None:
            await asyncio.sleep(think(rng, 8, shared.think_scale))
            continue
        session = created.json()["session_id"]
        for _ in range(rng.randint(1, 4)):
            if time.monotonic() >= shared.deadline:
                break
            text = next_message(rng)
            try:
                if text is None:
                    await file_report(shared, account, None)
                else:
                    await rest_turn(shared, account, session, text)
            except Exception as exc:  # a surprise in an answer: counted, and the user carries on
                rec.error("rest.execute" if text else "feedback.intake", f"unexpected {type(exc).__name__}")
            await asyncio.sleep(think(rng, 8, shared.think_scale))


async def rest_turn(shared: Shared, account: Account, session: str, text: str) -> None:
    rec = shared.recorder
    started = time.monotonic()
    response = await rec.request(
        "rest.execute", shared.balancer.http(), "POST", f"/api/v1/sessions/{session}/execute",
        json={"message": text}, headers=account.headers,
    )  # fmt: skip
    if response is None:
        return
    status = response.json().get("status")
    if status not in ("success", "interrupted"):
        rec.error("rest.execute", f"run {status}")
        return
    rec.ok("rest.execute", time.monotonic() - started)
    if status != "interrupted":
        return
    asked = time.monotonic()
    while time.monotonic() < asked + APPROVAL_TIMEOUT:  # a plain REST client polls its session
        await asyncio.sleep(1)
        polled = await rec.http(
            "rest.session_get", shared.balancer.http(), "GET", f"/api/v1/sessions/{session}", headers=account.headers
        )
        if polled is not None and polled.json().get("status") == "idle":
            rec.ok("rest.approval_roundtrip", time.monotonic() - asked)
            return
    rec.error("rest.approval_roundtrip", "timeout")


async def staff_member(shared: Shared, account: Account, index: int, team: int, seed: int) -> None:
    rng = random.Random(seed)
    rec = shared.recorder
    for loop in itertools.count():
        if time.monotonic() >= shared.deadline:
            return
        try:
            await _staff_round(shared, account, index, team, rng, loop)
        except Exception as exc:  # a surprise in an answer: counted, and the staff member carries on
            rec.error("staff.round", f"unexpected {type(exc).__name__}")
        await asyncio.sleep(think(rng, 3, shared.think_scale))


async def _staff_round(shared: Shared, account: Account, index: int, team: int, rng: random.Random, loop: int) -> None:
    """Decide this member's share of the pending approvals; every 3rd round the board, every 10th the analytics."""
    rec = shared.recorder
    listed = await rec.http(
        "approvals.list", shared.balancer.http(), "GET", "/api/v1/approvals",
        params={"status": "pending", "limit": 100}, headers=account.headers,
    )  # fmt: skip
    mine = [a for a in (listed.json()["items"] if listed else []) if int(a["id"][:8], 16) % team == index]
    for approval in mine:
        await asyncio.sleep(rng.uniform(0.3, 1.5) * shared.think_scale)  # reading the card
        if rng.random() < 0.85:
            op, body = "approvals.approve", {}
        else:
            op, body = "approvals.reject", {"message": "Not eligible for a refund: please contact us."}
        verb = op.split(".")[1]
        await rec.http(
            op, shared.balancer.http(), "POST", f"/api/v1/approvals/{approval['id']}/{verb}",
            json=body, headers=account.headers,
        )  # fmt: skip
    if loop % 3 == 0:
        await _read_board(shared, account, rng)
    if loop % 10 == 0:
        for op, path, params in (
            ("analytics.support", "/api/v1/analytics", {"range": "7d"}),
            ("analytics.feedback", "/api/v1/analytics/feedback", {"range": "7d"}),
            ("conversations.list", "/api/v1/conversations", {"limit": 20}),
        ):
            await rec.http(op, shared.balancer.http(), "GET", path, params=params, headers=account.headers)


async def _read_board(shared: Shared, account: Account, rng: random.Random) -> None:
    rec = shared.recorder
    board = await rec.http(
        "board.tasks", shared.balancer.http(), "GET", "/api/v1/tasks", params={"limit": 50}, headers=account.headers
    )
    items = board.json()["items"] if board is not None else []
    if items:
        task = rng.choice(items)["id"]
        await rec.http(
            "board.task_timeline", shared.balancer.http(), "GET", f"/api/v1/tasks/{task}/timeline",
            headers=account.headers,
        )  # fmt: skip

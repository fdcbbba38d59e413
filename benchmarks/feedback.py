"""Feedback intake benchmark: what the workflow costs on top of intake. Two real `loopdesk serve` processes in one
run, each on its own embedded PostgreSQL, take the same reports from one customer:

- **intake alone** (`LOOPDESK_FEEDBACK_WORKFLOW=false`): `POST /api/v1/feedback` classifies, de-duplicates and
  stores the task; no workflow graph starts. Latency is the POST's.
- **intake + workflow**: the same POST also starts the task's workflow graph (the runtime's queue and worker:
  log analysis, routing, the plan draft). Latency runs from the POST until the reporter's WebSocket receives the
  `task_update` for `plan_review`; throughput is tasks through intake → routed → plan_review per second.

    .venv/bin/python benchmarks/feedback.py [--reports 200] [--levels 1,10]

Each client submits its next report when the last one is done (closed loop). Every report's text is distinct,
but generated ones are alike: both servers link only exact duplicates (LOOPDESK_DEDUP_LINK_THRESHOLD=1), so
each report opens a task while the de-duplication check is still paid. The database holds no logs and no
teams: the analysis and routing take their fast paths, so this measures the workflow's machinery, not the log store."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import httpx
import typer
from common import drive, ratio_table, served_loopdesk, write_results
from rich.console import Console
from rich.progress import Progress
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent
console = Console()
WAIT_SECONDS = 60.0

_AREAS = ("checkout", "the order history", "login", "search results", "the refund page", "the invoice download",
          "push notifications", "the address book", "the coupon field", "the delivery tracker", "the loyalty card",
          "the gift wrapping option", "two-factor codes", "the product reviews", "the size chart", "the wishlist",
          "the returns label", "the store locator", "the currency switcher", "the newsletter signup")  # fmt: skip
_SYMPTOMS = ("freezes after a few seconds", "shows a red error banner", "logs me out", "lists everything twice",
             "charges the wrong amount", "stays blank", "crashes the app", "ignores my language setting",
             "loads forever", "sends me to a 404 page", "shows someone else's data", "drops the last item")  # fmt: skip
_DEVICES = ("an iPhone 13", "a Pixel 7", "Firefox on Windows", "Safari on a Mac", "the Android tablet app",
            "Edge on a work laptop", "an old Kindle browser", "Chrome on Linux")  # fmt: skip
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _word(index: int, salt: int) -> str:
    """A made-up word unique to (`index`, `salt`): a product name de-duplication has never seen."""
    size = len(_SYLLABLES)
    number, syllables = (index * 2_654_435_761 + salt * 40_503) % size**4, []  # spread: neighbours share nothing
    for _ in range(4):
        number, digit = divmod(number, size)
        syllables.append(_SYLLABLES[digit])
    return "".join(syllables)


_SENTENCES = (
    "It started right after the {a} update.", "My colleague on {d} sees the same thing.",
    "Clearing the cache did not help at all.", "It only happens when I pay with the {a} card.",
    "Support ticket {a}-{b} was closed without an answer.", "The {b} warehouse is the one shipping my order.",
    "I have been a {a} member for years and never saw this.", "Screenshots are attached, look at the top corner.",
    "The {b} coupon was applied when it went wrong.", "Switching to the {a} language makes it worse.",
    "Our whole {b} team is blocked by it.", "It is fine on Wi-Fi but not on mobile data.",
    "The spinner keeps turning and the {a} logo flickers.", "Yesterday evening it worked for about an hour.",
    "Please call me back, my {b} contract renews soon.", "The totals in the {a} summary are off too.",
)  # fmt: skip


def reports(count: int) -> list[dict]:
    """`count` bug reports, the same in every run, different enough that none is a near-duplicate of another
    (each names made-up products of its own and says different things), so every one opens a task."""
    rng = random.Random(18)  # noqa: S311 - benchmark data
    made = []
    for index in range(count):
        area, device, symptom = rng.choice(_AREAS), rng.choice(_DEVICES), rng.choice(_SYMPTOMS)
        product, shop, plan = (_word(index, salt).capitalize() for salt in (1, 2, 3))
        said = rng.sample(_SENTENCES, 4)
        made.append(
            {
                "title": f"{product} {plan}: {area} {symptom}",
                "description": " ".join(
                    [f"{area.capitalize()} {symptom} on {device}."]
                    + [
                        sentence.format(a=product if i % 2 else plan, b=shop, d=device)
                        for i, sentence in enumerate(said)
                    ]
                ),
            }
        )
    return made


async def _intake(base: str, headers: dict, items: list[dict], concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=concurrency + 5)
    queue = iter(items)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http:

        async def call(index: int) -> bool:
            response = await http.post("/api/v1/feedback", json=next(queue))
            if response.status_code != 201:
                console.print(f"intake answered {response.status_code}: {response.text[:200]}")
            return response.status_code == 201

        return await drive(len(items), concurrency, call, progress, task)


async def _workflow(base: str, headers: dict, items: list[dict], concurrency: int, progress, task) -> dict:  # type: ignore[no-untyped-def]
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=concurrency + 5)
    queue = iter(items)
    reached: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
    token = headers["Authorization"].removeprefix("Bearer ")
    ws_url = base.replace("http://", "ws://") + f"/ws?token={token}"
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http,
        connect(ws_url, max_size=None) as socket,
    ):

        async def listen() -> None:
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") == "task_update" and frame.get("to_value") == "plan_review":
                    reached[frame["task_id"]].set()

        listener = asyncio.create_task(listen())

        async def call(index: int) -> bool:
            response = await http.post("/api/v1/feedback", json=next(queue))
            if response.status_code != 201:
                console.print(f"intake answered {response.status_code}: {response.text[:200]}")
                return False
            try:
                await asyncio.wait_for(reached[response.json()["task"]["id"]].wait(), WAIT_SECONDS)
            except TimeoutError:
                return False
            return True

        try:
            return await drive(len(items), concurrency, call, progress, task)
        finally:
            listener.cancel()


def main(
    reports_per_row: int = typer.Option(200, "--reports", help="Reports per scenario and concurrency level."),
    levels: str = typer.Option("1,10", help="Concurrency levels, comma-separated."),
    output: Path = typer.Option(ROOT / "results" / "feedback.json", help="Where to write the JSON results."),
) -> None:
    concurrency_levels = [int(x) for x in levels.split(",")]
    texts = reports(reports_per_row * len(concurrency_levels) + 2)
    results: dict[str, dict] = {}
    started = time.perf_counter()
    scenarios = (
        ("intake alone", {"LOOPDESK_FEEDBACK_WORKFLOW": "false"}, _intake),
        ("intake + workflow", {}, _workflow),
    )
    for name, env, scenario in scenarios:
        workers = max(concurrency_levels)
        with served_loopdesk(console, "feedback", worker_concurrency=workers, env=env) as (_, base, headers):
            for warm_up in texts[-2:]:  # the embedding model loads on the first report
                httpx.post(f"{base}/api/v1/feedback", json=warm_up, headers=headers, timeout=120)
            items = iter(texts)
            with Progress(console=console) as progress:
                for level in concurrency_levels:
                    batch = [next(items) for _ in range(reports_per_row)]
                    task = progress.add_task(f"{name} c={level}", total=reports_per_row)
                    results[f"{name} c={level}"] = asyncio.run(scenario(base, headers, batch, level, progress, task))

    pairs = [(f"intake alone c={level}", f"intake + workflow c={level}") for level in concurrency_levels]
    title = f"Feedback reports: intake alone vs through to plan_review, {reports_per_row} per row (2 cores)"
    console.print(ratio_table(title, "tasks", "intake alone", "ratio_vs_intake", pairs, results))
    console.print(f"total {time.perf_counter() - started:.0f} s")
    write_results(console, output, {"reports": reports_per_row, "results": results})


if __name__ == "__main__":
    typer.run(main)

"""What `make load` counts: per operation, latencies and errors (by HTTP status and error code, or exception); per
10 s, operations completed (throughput over time); and the leak check on a memory series."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

BUCKET_SECONDS = 10


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank on an ascending list (the value at or below which `fraction` of them fall)."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Operation:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self, elapsed: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        failed = sum(self.errors.values())
        result: dict[str, Any] = {
            "count": len(ordered),
            "per_s": round(len(ordered) / elapsed, 3) if elapsed > 0 else 0.0,
            "errors": failed,
            "error_rate": round(failed / (failed + len(ordered)), 4) if failed + len(ordered) else 0.0,
            "errors_by_kind": dict(self.errors.most_common()),
        }
        if ordered:
            result.update(
                p50_ms=round(percentile(ordered, 0.50) * 1000, 1),
                p95_ms=round(percentile(ordered, 0.95) * 1000, 1),
                p99_ms=round(percentile(ordered, 0.99) * 1000, 1),
                max_ms=round(ordered[-1] * 1000, 1),
                mean_ms=round(sum(ordered) / len(ordered) * 1000, 1),
            )
        return result


class Recorder:
    """Every operation's outcome, from the moment `start()` is called."""

    def __init__(self) -> None:
        self.operations: defaultdict[str, Operation] = defaultdict(Operation)
        self.buckets: defaultdict[int, Counter[str]] = defaultdict(Counter)
        self.bucket_latencies: defaultdict[int, defaultdict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.started = time.monotonic()

    def start(self) -> None:
        """Forget what the warm-up recorded and count from now."""
        self.operations.clear()
        self.buckets.clear()
        self.bucket_latencies.clear()
        self.started = time.monotonic()

    def _bucket(self) -> int:
        return int((time.monotonic() - self.started) // BUCKET_SECONDS)

    def ok(self, op: str, seconds: float) -> None:
        self.operations[op].latencies.append(seconds)
        bucket = self._bucket()
        self.buckets[bucket][op] += 1
        self.bucket_latencies[bucket][op].append(seconds)

    def error(self, op: str, kind: str) -> None:
        self.operations[op].errors[kind] += 1
        self.buckets[self._bucket()]["errors"] += 1

    async def request(
        self, op: str, client: httpx.AsyncClient, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kw: Any
    ) -> httpx.Response | None:
        """One request: the response when its status is expected, else None with the error recorded. The caller
        records the success (it may still judge the body a failure)."""
        try:
            response = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.error(op, type(exc).__name__)
            return None
        if response.status_code not in expect:
            self.error(op, http_error_kind(response))
            return None
        return response

    async def http(
        self, op: str, client: httpx.AsyncClient, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kw: Any
    ) -> httpx.Response | None:
        """One request, timed and recorded either way."""
        started = time.monotonic()
        response = await self.request(op, client, method, url, expect=expect, **kw)
        if response is not None:
            self.ok(op, time.monotonic() - started)
        return response

    def summary(self, elapsed: float) -> dict[str, dict[str, Any]]:
        return {op: self.operations[op].summary(elapsed) for op in sorted(self.operations)}

    def timeline(self, latency_of: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Per 10 s: operations completed (and errors) by name; for the `latency_of` operations, their p50 and
        p99 in that window (`<op> p50_ms`)."""
        if not self.buckets:
            return []
        rows = []
        for index in range(max(self.buckets) + 1):
            row: dict[str, Any] = {"t_s": (index + 1) * BUCKET_SECONDS}
            row.update(sorted(self.buckets.get(index, Counter()).items()))
            for op in latency_of:
                ordered = sorted(self.bucket_latencies.get(index, {}).get(op, []))
                if ordered:
                    row[f"{op} p50_ms"] = round(percentile(ordered, 0.5) * 1000, 1)
                    row[f"{op} p99_ms"] = round(percentile(ordered, 0.99) * 1000, 1)
            rows.append(row)
        return rows


def http_error_kind(response: httpx.Response) -> str:
    """`HTTP 409 already_decided`: the status and, when the body is loopdesk's error envelope, its stable code."""
    code = None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else body.get("code") if isinstance(body, dict) else None
    except ValueError:
        pass
    return f"HTTP {response.status_code}" + (f" {code}" if code else "")


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope and r² of (x, y) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    syy = sum((y - mean_y) ** 2 for _, y in points)
    slope = sxy / sxx if sxx else 0.0
    r2 = (sxy * sxy) / (sxx * syy) if sxx and syy else 0.0
    return slope, r2


# A process whose resident memory grows faster than this over the second half of the run is reported as growing:
# 0.5 MB/min is 720 MB a day, which a long-running service would notice.
LEAK_MB_PER_MIN = 0.5
MIN_POINTS = 6  # one minute of 10 s samples
STEADY_R2 = 0.8


def leak_check(series: list[tuple[float, float]], seconds: float, threshold: float = LEAK_MB_PER_MIN) -> dict[str, Any]:
    """Linear fit of (t seconds, MB) samples taken in the second half of a `seconds`-long run; growing faster
    than `threshold` MB/min is not flat."""
    half = [(t, mb) for t, mb in series if t >= seconds / 2]
    if len(half) < MIN_POINTS:
        return {"points": len(half), "verdict": f"too short (< {MIN_POINTS} samples)"}
    slope, r2 = linear_fit([(t / 60, mb) for t, mb in half])
    early = [(t / 60, mb) for t, mb in series if t < seconds / 2]
    # For comparison: a cache filling up climbs fast at first and slows down; a leak keeps its pace.
    early_slope = round(linear_fit(early)[0], 3) if len(early) >= 3 else None
    if slope <= threshold:
        verdict = "flat"
    else:  # a steady climb, or a few steps (a cache filling, the allocator keeping freed memory)?
        verdict = "growing" if r2 >= STEADY_R2 else "unsteady"
    return {
        "points": len(half),
        "mb_per_min": round(slope, 3),
        "mb_per_min_first_half": early_slope,
        "threshold_mb_per_min": threshold,
        "r2": round(r2, 3),
        "first_mb": round(half[0][1], 2),
        "last_mb": round(half[-1][1], 2),
        "verdict": verdict,
    }

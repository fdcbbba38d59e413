"""Error-rate anomaly detectors on synthetic series with injected anomalies: the seed's rolling 3-sigma against
the robust z-score (rolling median / MAD with a noise floor), on rates alone and with the request counts the
log store also has (a binomial floor on the scale), in one run, on the same series.

    nice -n 10 .venv/bin/python benchmarks/anomalies.py [--seeds 200] [--hours 1008]

Each series is an hourly error rate: requests per hour follow a daily and weekly cycle (Poisson), errors are
binomial around a base rate with its own daily swing, a slow trend and heavy-tailed jitter (1 hour in 50 has
its rate multiplied by a log-normal factor: noise, not an anomaly), and about 1 % of hours are missing (NaN).
Injected and labelled: spikes (one hour, rate × 3-8), bursts (3-8 hours, × 2.5-5) and level shifts (× 2-3 from
then on; the first 6 hours are labelled, after that it is the new normal). Scores are per hour (precision,
recall, F1) and per event (an event is found when any of its labelled hours is flagged)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from loopdesk.triage.anomalies import robust_scores, three_sigma_scores

SHIFT_LABEL_HOURS = 6
# Seeds from here on: the detectors' defaults were chosen on seeds 0-39, so the reported series are unseen.
FIRST_SEED = 1000
DETECTORS = {
    "three_sigma": lambda data: three_sigma_scores(data.values).flags,
    "robust_zscore (rates only)": lambda data: robust_scores(data.values).flags,
    "robust_zscore (rates + requests)": lambda data: robust_scores(data.values, totals=data.totals).flags,
}
SCENARIOS = ("noise only", "spikes", "bursts", "level shifts", "mixed")


@dataclass
class Synthetic:
    values: np.ndarray
    totals: np.ndarray  # requests per hour
    labels: np.ndarray  # bool per hour
    events: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (kind, labelled hours)


def synthesize(rng: np.random.Generator, hours: int, scenario: str) -> Synthetic:
    t = np.arange(hours)
    daily = np.sin(2 * np.pi * (t % 24) / 24 - np.pi / 2)
    weekend = np.where((t // 24) % 7 >= 5, 0.6, 1.0)
    traffic = rng.uniform(200, 2000) * (1 + 0.7 * daily) * weekend * (1 + rng.uniform(0, 0.5) * t / hours)
    requests = rng.poisson(np.maximum(traffic, 5))
    base = rng.uniform(0.005, 0.03) * (1 + 0.25 * np.roll(daily, rng.integers(24)))
    base = base * (1 + rng.uniform(-0.3, 0.6) * t / hours)  # trend
    jitter = np.where(rng.random(hours) < 0.02, rng.lognormal(0.0, 0.6, hours), 1.0)
    factor = np.ones(hours)
    labels = np.zeros(hours, dtype=bool)
    events: list[tuple[str, np.ndarray]] = []
    taken = np.zeros(hours, dtype=bool)
    taken[:48] = True  # the detectors need a baseline first

    def place(length: int) -> int | None:
        for _ in range(100):
            start = int(rng.integers(48, hours - length - 24))
            if not taken[start - 24 : start + length + 24].any():
                taken[start - 24 : start + length + 24] = True
                return start
        return None

    kinds = {
        "noise only": [],
        "spikes": ["spike"] * 8,
        "bursts": ["burst"] * 5,
        "level shifts": ["shift"] * 2,
        "mixed": ["spike"] * 4 + ["burst"] * 3 + ["shift"],
    }[scenario]
    for kind in kinds:
        if kind == "spike" and (start := place(1)) is not None:
            factor[start] *= rng.uniform(3, 8)
            span = np.arange(start, start + 1)
        elif kind == "burst" and (start := place(length := int(rng.integers(3, 9)))) is not None:
            factor[start : start + length] *= rng.uniform(2.5, 5)
            span = np.arange(start, start + length)
        elif kind == "shift" and (start := place(SHIFT_LABEL_HOURS)) is not None:
            factor[start:] *= rng.uniform(2, 3)
            taken[start:] = True  # nothing else after a shift: its later hours are the new normal
            span = np.arange(start, start + SHIFT_LABEL_HOURS)
        else:
            continue
        labels[span] = True
        events.append((kind, span))
    probability = np.clip(base * jitter * factor, 0, 1)
    errors = rng.binomial(requests, probability)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(requests > 0, errors / requests, np.nan)
    rate[rng.random(hours) < 0.01] = np.nan  # collection gaps
    return Synthetic(values=rate, totals=requests.astype(float), labels=labels, events=events)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    events: int = 0
    found: int = 0
    series: int = 0
    false_alarm_series: int = 0

    def add(self, flags: np.ndarray, data: Synthetic) -> None:
        self.tp += int((flags & data.labels).sum())
        self.fp += int((flags & ~data.labels).sum())
        self.fn += int((~flags & data.labels).sum())
        self.events += len(data.events)
        self.found += sum(bool(flags[span].any()) for _, span in data.events)
        self.series += 1
        self.false_alarm_series += int((flags & ~data.labels).any())

    def row(self) -> dict[str, float | None]:
        """Precision, recall and F1 are None for series without anomalies (only false positives count)."""
        labelled = self.tp + self.fn > 0
        precision = self.tp / (self.tp + self.fp) if labelled and self.tp + self.fp else None
        recall = self.tp / (self.tp + self.fn) if labelled else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "event_recall": self.found / self.events if self.events else None,
            "false_positives_per_1000h": self.fp,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def main(
    seeds: Annotated[int, typer.Option(help="Series per scenario.")] = 200,
    hours: Annotated[int, typer.Option(help="Length of each series (hourly intervals).")] = 24 * 42,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path("benchmarks/results"),
) -> None:
    console = Console(width=140)
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    for scenario in SCENARIOS:
        tallies = {name: Tally() for name in DETECTORS}
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            data = synthesize(np.random.default_rng([seed, SCENARIOS.index(scenario)]), hours, scenario)
            for name, detect in DETECTORS.items():
                tallies[name].add(detect(data), data)
        results[scenario] = {}
        for name, tally in tallies.items():
            row = tally.row()
            row["false_positives_per_1000h"] = 1000 * tally.fp / (seeds * hours)
            results[scenario][name] = row
    table = Table(title=f"error-rate detectors, {seeds} series × {hours} h per scenario")
    for column in ("scenario", "detector", "precision", "recall", "F1", "event recall", "FP / 1000 h"):
        table.add_column(column, justify="left" if column in ("scenario", "detector") else "right")
    for scenario, rows in results.items():
        for name, row in rows.items():
            cells = (row["precision"], row["recall"], row["f1"], row["event_recall"])
            table.add_row(
                scenario,
                name,
                *("–" if cell is None else f"{cell:.3f}" for cell in cells),
                f"{row['false_positives_per_1000h']:.1f}",
            )
    console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"seeds": seeds, "hours": hours, "results": results}
    (out / "anomalies.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)

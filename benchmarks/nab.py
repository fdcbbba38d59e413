"""The anomaly detectors on the Numenta Anomaly Benchmark (NAB, MIT licence), scored by our own implementation of
NAB's scoring rules, with NAB's Windowed Gaussian baseline reimplemented and measured in the same run.

    nice -n 10 .venv/bin/python benchmarks/nab.py [--nab PATH]

PATH is a NAB checkout (with data/ and labels/) or a bare git directory of one (the `fetch github:numenta/NAB`
mirror is found by default). The data is read in place, never copied into this repository.

Scoring, as NAB defines it (nab/sweeper.py, nab/runner.py):
- Each labelled anomaly is a window of rows; the first 15 % of each file (at most 750 rows) is probationary and
  not scored. A detector outputs a score in [0, 1] per row; rows at or above one threshold are detections.
- A detection inside a window earns A_TP · σ(position) / σ(left edge), where σ(p) = 2/(1 + e^{5p}) - 1 and p runs
  from -1 at the window's left edge to 0 at its right edge: early is worth more. A window counts once, through its
  best (earliest) detection; a window with none costs A_FN.
- A detection outside every window costs A_FP · σ(distance past the previous window's right edge / (its width - 1))
  (σ is negative there: near a window it costs little, far away up to A_FP); with no window before it, A_FP.
- One threshold per detector and profile, the one maximising the summed score over the whole corpus; the sum is
  normalised to 100 · (score - null) / (perfect - null), where the null detector detects nothing (-A_FN per window)
  and the perfect one earns A_TP per window.
Profiles (config/profiles.json): standard A_TP=1, A_FP=0.11, A_FN=1; reward_low_FP A_FP=0.22; reward_low_FN A_FN=2.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from loopdesk.triage.anomalies import robust_scores, surprise_scores, three_sigma_scores

DEFAULT_NAB = Path("/work/.mirror/numenta+NAB/repo")
PROBATION = 0.15
PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}
STORED = ["results/windowedGaussian"]  # NAB's own detector outputs: scoring them checks our scorer
PUBLISHED = {"windowed_gaussian": (39.65, 20.87, 47.41), "numenta HTM": (70.10, 63.12, 74.32)}


@dataclass(frozen=True)
class DataFile:
    name: str
    values: np.ndarray
    windows: list[tuple[int, int]]  # first and last row of each labelled window, inclusive
    stored_gaussian: np.ndarray | None = None  # NAB's windowedGaussian output for this file, when present

    @property
    def probation(self) -> int:
        return probation_length(self.values.size)


def probation_length(rows: int) -> int:
    """NAB's probationary period: 15 % of the file, at most 15 % of 5,000 rows."""
    return math.ceil(min(math.floor(PROBATION * rows), PROBATION * 5000))


# --- loading ---------------------------------------------------------------------------------------------------


def _read_tree(nab: Path) -> dict[str, bytes]:
    """data/*.csv and the window labels of a checkout, or of a bare git directory (read through `git archive`)."""
    if (nab / "data").is_dir() and (nab / "labels").is_dir():
        found = [*(nab / "data").rglob("*.csv"), *(nab / "results" / "windowedGaussian").rglob("*.csv")]
        files = {str(p.relative_to(nab)): p.read_bytes() for p in found}
        files["labels/combined_windows.json"] = (nab / "labels" / "combined_windows.json").read_bytes()
        return files
    if (nab / "HEAD").is_file() and (nab / "objects").is_dir() and (git := shutil.which("git")):
        archive = subprocess.run(
            [git, "--git-dir", str(nab), "archive", "HEAD", "data", "labels/combined_windows.json", *STORED],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            return {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile() and (m.name.endswith(".csv") or m.name.endswith(".json"))
            }
    raise typer.BadParameter(
        f"{nab} is not a NAB checkout. Get NAB (MIT) with `git clone https://github.com/numenta/NAB` "
        "(or the `fetch github:numenta/NAB` tool) and pass its path with --nab."
    )


def load_corpus(nab: Path) -> list[DataFile]:
    tree = _read_tree(nab)
    labels = json.loads(tree["labels/combined_windows.json"])
    corpus = []
    for name, windows in sorted(labels.items()):
        folder, file = name.split("/")
        stored = tree.get(f"results/windowedGaussian/{folder}/windowedGaussian_{file}")
        lines = tree[f"data/{name}"].decode().strip().splitlines()[1:]
        stamps = np.array([line.split(",")[0] for line in lines], dtype="datetime64[s]")
        values = np.array([float(line.split(",")[1]) for line in lines])
        index = {stamp: i for i, stamp in enumerate(stamps.tolist())}
        bounds = [tuple(index[np.datetime64(t[:19]).tolist()] for t in window) for window in windows]
        reference = None
        if stored is not None:
            rows = [line.split(",") for line in stored.decode().strip().splitlines()]
            column = rows[0].index("anomaly_score")
            reference = np.array([float(row[column]) for row in rows[1:]])
        corpus.append(DataFile(name, values, bounds, reference))  # type: ignore[arg-type]
    return corpus


# --- scoring ---------------------------------------------------------------------------------------------------


def _sigma(position: np.ndarray) -> np.ndarray:
    """NAB's scaled sigmoid: 2·sigmoid(-5p) - 1, and -1 beyond p = 3."""
    return np.where(position > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0)


def row_rewards(data: DataFile, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, what a detection there is worth, and the window it falls in (-1: none). Probationary rows get
    window -2: they are never scored."""
    n = data.values.size
    reward = np.empty(n)
    window_of = np.full(n, -1)
    max_tp = float(_sigma(np.array(-1.0)))
    previous: tuple[int, int] | None = None  # right edge and width of the last window passed
    cursor = 0
    for number, (left, right) in enumerate([*data.windows, (n, n)]):
        gap = np.arange(cursor, left)
        if previous is None:
            reward[gap] = -weights["fp"]
        else:
            edge, width = previous
            reward[gap] = weights["fp"] * _sigma(np.abs(gap - edge) / (width - 1.0))
        if left == n:
            break
        width = right - left + 1
        inside = np.arange(left, right + 1)
        reward[inside] = weights["tp"] * _sigma(-(right - inside + 1) / width) / max_tp
        window_of[inside] = number
        previous, cursor = (right, width), right + 1
    window_of[: data.probation] = -2
    return reward, window_of


def optimise(corpus: list[DataFile], scores: list[np.ndarray], weights: dict[str, float]) -> tuple[float, float]:
    """(threshold, raw corpus score) for the threshold that maximises the score; detections are scores ≥ it."""
    rewards, windows, values = [], [], []
    offset = 0
    for data, score in zip(corpus, scores, strict=True):
        reward, window_of = row_rewards(data, weights)
        keep = window_of != -2
        rewards.append(reward[keep])
        windows.append(np.where(window_of[keep] >= 0, window_of[keep] + offset, -1))
        values.append(np.asarray(score, dtype=float)[keep])
        offset += len(data.windows)
    reward, window, score = np.concatenate(rewards), np.concatenate(windows), np.concatenate(values)
    order = np.argsort(-score, kind="stable")
    reward, window, score = reward[order], window[order], score[order]
    scored_windows = np.unique(window[window >= 0])
    gain = np.where(window < 0, reward, 0.0)
    # A window's value is its best detection so far (from -A_FN): each new best adds the improvement.
    inside = np.flatnonzero(window >= 0)
    by_window = inside[np.argsort(window[inside], kind="stable")]
    w = window[by_window]
    best = np.maximum.accumulate(reward[by_window] + 10.0 * w) - 10.0 * w  # a running max per window
    first = np.r_[True, w[1:] != w[:-1]]
    before = np.where(first, -weights["fn"], np.r_[-weights["fn"], best[:-1]])
    gain[by_window] = best - before
    total = -weights["fn"] * scored_windows.size + np.cumsum(gain)
    last_of_tie = np.r_[score[1:] != score[:-1], True]
    candidates = np.r_[-weights["fn"] * scored_windows.size, total[last_of_tie]]
    thresholds = np.r_[1.1, score[last_of_tie]]
    best_index = int(np.argmax(candidates))
    return float(thresholds[best_index]), float(candidates[best_index])


def nab_score(corpus: list[DataFile], scores: list[np.ndarray], weights: dict[str, float]) -> float:
    """The normalised score: 0 is the null detector (detects nothing), 100 the perfect one."""
    windows = sum(len(data.windows) for data in corpus)
    null = -weights["fn"] * windows
    perfect = weights["tp"] * windows
    _, raw = optimise(corpus, scores, weights)
    return 100.0 * (raw - null) / (perfect - null)


# --- detectors -------------------------------------------------------------------------------------------------


def windowed_gaussian(values: np.ndarray, probation: int, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowedGaussian: 1 - the two-sided Gaussian tail probability of the value under the mean and σ
    of the values before it (all of them up to `window`, then a window that slides `step` rows at a time)."""
    n = values.size
    centred = values - values[0]  # prefix sums of centred values keep the variance precise
    s1 = np.r_[0.0, np.cumsum(centred)]
    s2 = np.r_[0.0, np.cumsum(centred**2)]
    index = np.arange(n)
    end = np.where(index < window, index, window + (index - window) // step * step)
    start = np.where(index < window, 0, end - window)
    count = np.maximum(end - start, 1)
    mean = (s1[end] - s1[start]) / count
    std = np.sqrt(np.maximum((s2[end] - s2[start]) / count - mean**2, 0.0))
    std = np.where(std < 1e-9 * (1.0 + np.abs(mean + values[0])), 1e-6, std)
    z = np.abs(centred - mean) / std
    erfc = np.frompyfunc(math.erfc, 1, 1)
    score = 1.0 - 0.5 * erfc(z / math.sqrt(2.0)).astype(float)
    score[0] = 0.0
    return score


def _squash(z: np.ndarray) -> np.ndarray:
    """|z| → [0, 1), monotone (a threshold on it is a threshold on |z|); missing → 0."""
    magnitude = np.abs(np.nan_to_num(z, nan=0.0, posinf=1e12, neginf=1e12))
    return magnitude / (1.0 + magnitude)


DETECTORS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "windowed_gaussian": windowed_gaussian,
    "three_sigma |z|": lambda values, probation: _squash(three_sigma_scores(values).score),
    "robust_zscore |z|": lambda values, probation: _squash(robust_scores(values).score),
    "surprise": lambda values, probation: surprise_scores(values, learning=probation),
}


def main(
    nab: Annotated[Path, typer.Option(help="NAB checkout or bare git directory.")] = DEFAULT_NAB,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path("benchmarks/results"),
) -> None:
    console = Console(width=140)
    corpus = load_corpus(nab)
    rows = sum(data.values.size for data in corpus)
    windows = sum(len(data.windows) for data in corpus)
    results: dict[str, dict[str, float]] = {}
    if all(data.stored_gaussian is not None for data in corpus):
        stored = [data.stored_gaussian for data in corpus]
        name = "windowed_gaussian, NAB's stored outputs"
        results[name] = {profile: nab_score(corpus, stored, w) for profile, w in PROFILES.items()}  # type: ignore[arg-type]
        results[name]["runtime_s"] = float("nan")
    for name, detect in DETECTORS.items():
        started = time.perf_counter()
        scores = [detect(data.values, data.probation) for data in corpus]
        runtime = time.perf_counter() - started
        for score in scores:
            if score.shape != (score.size,) or not np.all((score >= 0) & (score <= 1)):
                raise ValueError(f"{name}: scores must be one per row, in [0, 1]")
        results[name] = {profile: nab_score(corpus, scores, weights) for profile, weights in PROFILES.items()}
        results[name]["runtime_s"] = runtime
    table = Table(title=f"NAB: {len(corpus)} files, {rows:,} rows, {windows} windows (published in italics)")
    for column in ("detector", "standard", "reward_low_FP", "reward_low_FN", "runtime"):
        table.add_column(column, justify="left" if column == "detector" else "right")
    for name, row in results.items():
        table.add_row(
            name,
            *(f"{row[p]:.1f}" for p in PROFILES),
            f"{row['runtime_s']:.1f} s" if row["runtime_s"] == row["runtime_s"] else "–",
        )
    for name, published in PUBLISHED.items():
        table.add_row(f"[i]{name} (published)[/i]", *(f"[i]{value:.1f}[/i]" for value in published), "")
    console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nab.json").write_text(json.dumps({"files": len(corpus), "rows": rows, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)

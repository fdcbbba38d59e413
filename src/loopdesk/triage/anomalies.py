"""Anomalies in per-interval log metrics, in numpy alone (the series come from `triage.store.series`).

- `three_sigma`: the seed's rule, value > mean + 3σ of a rolling baseline of the intervals before (never the
  current one). Simple, but a burst inflates σ for the intervals after it and hides what follows.
- `robust_zscore`: median and MAD of the same rolling baseline, floored by the series' own noise level (from
  its first differences, which trend and level shifts barely move). Bursts do not mask each other, heavy-tailed
  noise does not inflate the threshold; see benchmarks/README.md (## Anomalies) for the comparison.
- `iqr_outliers`: latency samples above Q3 + 1.5·IQR (high severity above Q3 + 3·IQR), grouped per interval.
- `surprise_scores`: a [0, 1) score per value for metrics that may move either way, one alarm per episode;
  scored on NAB by benchmarks/nab.py (52.0 standard against Windowed Gaussian's 40.1 in the same run).

Only rises are anomalies: an error rate or a latency falling is good news. NaN means "no data" everywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Severity = Literal["low", "medium", "high"]
Floats = NDArray[np.float64]

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its σ


@dataclass(frozen=True, slots=True)
class Anomaly:
    start: datetime
    end: datetime
    metric: str
    value: float
    threshold: float
    severity: Severity
    detector: str
    score: float | None = None  # how far past the baseline, in the detector's σ units (None for IQR)
    count: int = 1  # samples behind it (IQR: outliers in the interval)


@dataclass(frozen=True, slots=True)
class Series:
    """Values of consecutive intervals: interval i covers [start + i·step, start + (i+1)·step)."""

    start: datetime
    step: timedelta
    values: Floats
    metric: str = "error_rate"
    totals: Floats | None = None  # for a rate: the events behind each value (requests per interval)

    def window(self, index: int) -> tuple[datetime, datetime]:
        begin = self.start + index * self.step
        return begin, begin + self.step


@dataclass(frozen=True, slots=True)
class Scores:
    """Per interval: the baseline, the threshold the value had to pass, its score and the verdict.
    NaN baseline / threshold / score where the history was too short (or the value missing)."""

    baseline: Floats
    threshold: Floats
    score: Floats
    flags: NDArray[np.bool_]


def _as_values(values: ArrayLike) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("a series is one-dimensional")
    return np.where(np.isfinite(array), array, np.nan)


def _history(values: Floats, window: int) -> Floats:
    """Row i holds the `window` values before i (NaN-padded at the start): the baseline never sees i."""
    padded = np.concatenate([np.full(window, np.nan), values[:-1]]) if values.size else np.full(window, np.nan)
    return np.lib.stride_tricks.sliding_window_view(padded, window)[: values.size]


def _scores(values: Floats, baseline: Floats, scale: Floats, k: float, enough: NDArray[np.bool_]) -> Scores:
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = values - baseline
        score = np.where(scale > 0, excess / scale, np.where(excess > 0, np.inf, 0.0))
    decided = enough & np.isfinite(values)
    score = np.where(decided, score, np.nan)
    threshold = np.where(decided, baseline + k * scale, np.nan)
    flags = decided & (values > threshold) & (score >= k)
    return Scores(baseline=np.where(decided, baseline, np.nan), threshold=threshold, score=score, flags=flags)


def three_sigma_scores(values: ArrayLike, *, window: int = 24, min_periods: int = 8, k: float = 3.0) -> Scores:
    """mean + k·σ of the previous `window` intervals (population σ, as `np.std`)."""
    array = _as_values(values)
    history = _history(array, window)
    counts = np.sum(np.isfinite(history), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no baseline yet
        mean = np.nanmean(history, axis=1) if array.size else np.zeros(0)
        std = np.nanstd(history, axis=1) if array.size else np.zeros(0)
    return _scores(array, mean, std, k, counts >= min_periods)


def noise_level(values: ArrayLike) -> float:
    """The series' point-to-point noise σ, from the MAD of its first differences: a trend adds a constant to
    every difference and a level shift or a burst only a few outliers, so neither moves it much."""
    array = _as_values(values)
    diffs = np.diff(array[np.isfinite(array)])
    if diffs.size < 2:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return _MAD_TO_SIGMA * mad / np.sqrt(2.0)


def robust_scores(
    values: ArrayLike,
    *,
    totals: ArrayLike | None = None,
    window: int = 24,
    min_periods: int = 8,
    k: float = 3.5,
    noise_floor: float = 0.5,
) -> Scores:
    """median + k·(1.4826·MAD) of the previous `window` intervals. The scale is never below `noise_floor` times
    the series' noise level (a quiet stretch, MAD 0, does not make every wobble an anomaly) and, for a rate with
    its `totals`, never below the binomial σ of the baseline rate at that count: few requests, a noisy rate."""
    array = _as_values(values)
    history = _history(array, window)
    counts = np.sum(np.isfinite(history), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(history, axis=1) if array.size else np.zeros(0)
        mad = np.nanmedian(np.abs(history - median[:, None]), axis=1) if array.size else np.zeros(0)
    scale = np.maximum(_MAD_TO_SIGMA * mad, noise_floor * noise_level(array))
    if totals is not None:
        counts_per_value = np.asarray(totals, dtype=np.float64)
        if counts_per_value.shape != array.shape:
            raise ValueError("one total per value")
        rate = np.clip(np.nan_to_num(median), 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            binomial = np.sqrt(rate * (1 - rate) / np.where(counts_per_value > 0, counts_per_value, np.nan))
        scale = np.fmax(scale, binomial)
    return _scores(array, median, scale, k, counts >= min_periods)


def _severity(score: float, cutoffs: tuple[float, float]) -> Severity:
    return "high" if score >= cutoffs[1] else "medium" if score >= cutoffs[0] else "low"


def _anomalies(series: Series, scores: Scores, detector: str, cutoffs: tuple[float, float]) -> list[Anomaly]:
    out: list[Anomaly] = []
    for index in np.flatnonzero(scores.flags):
        score = float(scores.score[index])
        start, end = series.window(int(index))
        out.append(
            Anomaly(
                start=start,
                end=end,
                metric=series.metric,
                value=float(series.values[index]),
                threshold=float(scores.threshold[index]),
                severity=_severity(score, cutoffs),
                detector=detector,
                score=score,
            )
        )
    return out


def three_sigma(series: Series, *, window: int = 24, min_periods: int = 8) -> list[Anomaly]:
    """Spikes past mean + 3σ of the rolling baseline: low from 3σ, medium from 4σ, high from 5σ (the seed's)."""
    scores = three_sigma_scores(series.values, window=window, min_periods=min_periods)
    return _anomalies(series, scores, "three_sigma", (4.0, 5.0))


def robust_zscore(series: Series, *, window: int = 24, min_periods: int = 8, k: float = 3.5) -> list[Anomaly]:
    """Spikes past median + k robust σ (binomial-aware when the series has totals): low from k (3.5), medium
    from 2k, high from 3k."""
    scores = robust_scores(series.values, totals=series.totals, window=window, min_periods=min_periods, k=k)
    return _anomalies(series, scores, "robust_zscore", (2 * k, 3 * k))


DETECTORS = {"three_sigma": three_sigma, "robust": robust_zscore}


def iqr_bounds(values: ArrayLike, k: float = 1.5) -> tuple[float, float, float] | None:
    """(Q1, Q3, Q3 + k·IQR) of the finite values, or None when there are none."""
    array = _as_values(values)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return None
    q1, q3 = (float(q) for q in np.percentile(array, [25, 75]))
    return q1, q3, q3 + k * (q3 - q1)


def iqr_outliers(
    timestamps: Sequence[datetime],
    values: ArrayLike,
    *,
    step: timedelta,
    origin: datetime | None = None,
    metric: str = "latency_ms",
    k: float = 1.5,
    high_k: float = 3.0,
    min_samples: int = 8,
) -> list[Anomaly]:
    """Samples above Q3 + k·IQR of all the samples, one anomaly per interval holding any: its value is the
    interval's worst sample, high severity when that passes Q3 + high_k·IQR."""
    array = _as_values(values)
    if len(timestamps) != array.size:
        raise ValueError("one timestamp per value")
    finite = np.isfinite(array)
    if int(finite.sum()) < min_samples:
        return []
    q1, q3, upper = iqr_bounds(array[finite], k)  # type: ignore[misc]
    high = q3 + high_k * (q3 - q1)
    outliers = np.flatnonzero(finite & (array > upper))
    if outliers.size == 0:
        return []
    origin = origin or min(timestamps)
    worst: dict[int, tuple[float, int]] = {}
    for index in outliers:
        bucket = int((timestamps[index] - origin) / step)
        value, count = worst.get(bucket, (-np.inf, 0))
        worst[bucket] = (max(value, float(array[index])), count + 1)
    return [
        Anomaly(
            start=origin + bucket * step,
            end=origin + (bucket + 1) * step,
            metric=metric,
            value=value,
            threshold=upper,
            severity="high" if value > high else "medium",
            detector="iqr",
            count=count,
        )
        for bucket, (value, count) in sorted(worst.items())
    ]


def _trailing_mean_std(values: Floats, window: int) -> tuple[Floats, Floats]:
    """Mean and population σ of the up to `window` values before each index (0, 0 at index 0), from prefix sums
    of values centred on the first one (which keeps the variance precise)."""
    centred = values - values[0]
    sums = np.r_[0.0, np.cumsum(centred)]
    squares = np.r_[0.0, np.cumsum(centred**2)]
    index = np.arange(values.size)
    start = np.maximum(index - window, 0)
    count = np.maximum(index - start, 1)
    mean = (sums[index] - sums[start]) / count
    variance = np.maximum((squares[index] - squares[start]) / count - mean**2, 0.0)
    return mean + values[0], np.sqrt(variance)


def _fill_forward(values: Floats) -> Floats:
    finite = np.isfinite(values)
    last = np.maximum.accumulate(np.where(finite, np.arange(values.size), 0))
    filled = values[last]
    return np.where(np.isfinite(filled), filled, values[finite][0])


def surprise_scores(
    values: ArrayLike,
    *,
    learning: int,
    window: int = 6400,
    noise_floor: float = 0.1,
    change_weight: float = 0.5,
    cooldown: float = 0.4,
) -> Floats:
    """A streaming anomaly score in [0, 1) per value, for metrics that may move either way (NAB-style).

    Surprise is the larger of |value - mean| / σ and `change_weight` · the same for the step from the previous
    value, against the `window` values before it (never the current one); σ is floored at `noise_floor` times
    the range of the first `learning` values (a thousandth of their level when they are flat), so a quiet
    stretch does not turn every wobble into an alarm. Then
    one alarm per episode: a value keeps its score only when it beats every score of the previous
    `cooldown · learning` values (0 otherwise), so a burst or a shift raises its first, strongest points only.
    Scores are s / (1 + s): monotone, comparable across series. Missing values score 0."""
    array = _as_values(values)
    out = np.zeros(array.size)
    finite = np.isfinite(array)
    if finite.sum() < 3:
        return out
    learning = max(int(learning), 2)
    filled = _fill_forward(array)
    first = filled[:learning]
    # a flat learning period has no range: then a thousandth of its level (or of 1) stands in for it
    floor = noise_floor * max(float(np.ptp(first)), 1e-3 * max(float(np.mean(np.abs(first))), 1.0))
    surprise = np.zeros(array.size)
    for series, weight in ((filled, 1.0), (np.r_[0.0, np.diff(filled)], change_weight)):
        mean, std = _trailing_mean_std(series, window)
        surprise = np.maximum(surprise, weight * np.abs(series - mean) / np.maximum(std, floor))
    surprise[:2] = 0.0  # no baseline yet
    score = np.where(finite, surprise / (1.0 + surprise), 0.0)
    span = max(int(cooldown * learning), 1)
    padded = np.r_[np.full(span, -np.inf), score[:-1]]
    recent = np.lib.stride_tricks.sliding_window_view(padded, span)[: score.size].max(axis=1)
    return np.where(score > recent, score, 0.0)

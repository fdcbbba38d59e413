"""Anomaly detectors on constructed series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from loopdesk.triage.anomalies import (
    Series,
    iqr_bounds,
    iqr_outliers,
    noise_level,
    robust_scores,
    robust_zscore,
    surprise_scores,
    three_sigma,
    three_sigma_scores,
)

T0 = datetime(2026, 11, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def noisy(n: int = 72, level: float = 0.02, noise: float = 0.002) -> np.ndarray:
    """Bounded, irregular wiggle: no point of it is an outlier for either detector."""
    return level + noise * np.sin(np.arange(n) * 1.7)


def series(values, **kwargs) -> Series:
    return Series(T0, HOUR, np.asarray(values, dtype=float), **kwargs)


@pytest.mark.parametrize("detect", [three_sigma, robust_zscore], ids=["three_sigma", "robust"])
def test_a_spike_is_found_with_its_window_threshold_and_severity(detect):
    values = noisy()
    values[50] = 0.2
    [anomaly] = detect(series(values))
    assert (anomaly.start, anomaly.end) == (T0 + 50 * HOUR, T0 + 51 * HOUR)
    assert anomaly.value == pytest.approx(0.2)
    assert anomaly.threshold < 0.05 and anomaly.metric == "error_rate"
    assert anomaly.severity == "high" and anomaly.score > 5


@pytest.mark.parametrize("detect", [three_sigma, robust_zscore], ids=["three_sigma", "robust"])
def test_flat_series_have_no_anomalies(detect):
    assert detect(series(np.full(100, 0.05))) == []
    assert detect(series(np.zeros(100))) == []


@pytest.mark.parametrize("detect", [three_sigma, robust_zscore], ids=["three_sigma", "robust"])
@pytest.mark.parametrize(
    "values", [[], [np.nan] * 30, [0.1, np.inf, -np.inf, np.nan] * 10, [1.0] * 5], ids=["empty", "nan", "inf", "short"]
)
def test_empty_missing_and_short_input_gives_nothing(detect, values):
    assert detect(series(values)) == []


def test_missing_points_are_never_flagged_and_do_not_break_the_baseline():
    values = noisy()
    values[[10, 20, 30, 40]] = np.nan
    values[45] = 0.3
    for scores in (three_sigma_scores(values), robust_scores(values)):
        assert np.flatnonzero(scores.flags).tolist() == [45]
        assert np.isnan(scores.score[[10, 20, 30, 40]]).all()


def test_the_baseline_is_the_window_before_never_the_current_interval():
    values = noisy(40)
    values[30] = 1.0
    scores = three_sigma_scores(values, window=10)
    assert scores.baseline[30] == pytest.approx(values[20:30].mean())
    assert scores.threshold[30] == pytest.approx(values[20:30].mean() + 3 * values[20:30].std())
    assert np.isnan(scores.baseline[:8]).all()  # fewer than min_periods intervals of history


def test_a_burst_masks_itself_for_three_sigma_but_not_for_the_robust_detector():
    values = noisy()
    values[40:46] = 0.08
    burst = [T0 + h * HOUR for h in range(40, 46)]
    caught = [a.start for a in three_sigma(series(values))]
    assert caught[0] == burst[0] and len(caught) < len(burst)  # its own first hours inflate σ for the rest
    assert [a.start for a in robust_zscore(series(values))] == burst


def test_drops_are_not_anomalies():
    values = noisy()
    values[50] = 0.0
    assert three_sigma(series(values)) == [] and robust_zscore(series(values)) == []


def test_with_totals_a_rate_from_few_requests_needs_a_bigger_jump():
    values = noisy(noise=0.0005)
    values[50] = 0.06  # 3 errors out of 50 requests: within binomial noise of a 2% rate
    totals = np.full(values.size, 10_000.0)
    totals[50] = 50
    assert [a.start for a in robust_zscore(series(values))] == [T0 + 50 * HOUR]
    assert robust_zscore(series(values, totals=totals)) == []
    totals[50] = 10_000  # the same rate out of 10,000 requests is a real spike
    assert [a.start for a in robust_zscore(series(values, totals=totals))] == [T0 + 50 * HOUR]


def test_noise_level_ignores_trend_and_level_shifts():
    rng = np.random.default_rng(3)
    flat = rng.normal(0, 1.0, 2000)
    shifted = flat + np.linspace(0, 50, 2000) + np.where(np.arange(2000) > 1000, 20, 0)
    assert noise_level(flat) == pytest.approx(1.0, rel=0.1)
    assert noise_level(shifted) == pytest.approx(noise_level(flat), rel=0.1)


def test_severity_rises_with_the_distance_past_the_baseline():
    values = noisy(noise=0.001)
    baseline, sigma = values[:48].mean(), values[:48].std()
    values[48], values[60], values[70] = baseline + 3.5 * sigma, baseline + 4.5 * sigma, baseline + 9 * sigma
    severities = {a.start: a.severity for a in three_sigma(series(values))}
    assert severities[T0 + 70 * HOUR] == "high"
    assert set(severities.values()) <= {"low", "medium", "high"}


def test_two_dimensional_input_is_refused():
    with pytest.raises(ValueError, match="one-dimensional"):
        three_sigma_scores(np.zeros((3, 3)))


class TestIqr:
    def test_bounds_are_q3_plus_one_and_a_half_iqr(self):
        assert iqr_bounds([1, 2, 3, 4, 5, 6, 7, 8, 9]) == (3.0, 7.0, 13.0)
        assert iqr_bounds([]) is None and iqr_bounds([np.nan]) is None

    def test_outliers_are_grouped_per_interval_with_medium_and_high_severity(self):
        stamps = [T0 + timedelta(minutes=10 * i) for i in range(60)]
        values = np.array([100.0 + (i % 5) for i in range(60)])
        values[3], values[4] = 107.0, 200.0  # same hour: one anomaly, the worst value, high
        values[40] = 108.0  # past 1.5·IQR, not 3·IQR: medium
        assert iqr_bounds(values) == (101.0, 103.0, 106.0)
        found = iqr_outliers(stamps, values, step=HOUR, origin=T0)
        assert [(a.start, a.value, a.severity, a.count) for a in found] == [
            (T0, 200.0, "high", 2),
            (T0 + 6 * HOUR, 108.0, "medium", 1),
        ]
        assert found[0].detector == "iqr" and found[0].threshold == pytest.approx(iqr_bounds(values)[2])

    def test_constant_latency_and_too_few_samples_give_nothing(self):
        stamps = [T0 + timedelta(minutes=i) for i in range(30)]
        assert iqr_outliers(stamps, np.full(30, 120.0), step=HOUR) == []
        assert iqr_outliers(stamps[:3], [1.0, 2.0, 1000.0], step=HOUR) == []
        assert iqr_outliers([], [], step=HOUR) == []

    def test_one_timestamp_per_value(self):
        with pytest.raises(ValueError, match="one timestamp per value"):
            iqr_outliers([T0], [1.0, 2.0], step=HOUR)


def seasonal(n: int = 2000, seed: int = 7) -> np.ndarray:
    """A daily-ish cycle with Gaussian noise: nothing in it is an anomaly."""
    rng = np.random.default_rng(seed)
    return 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 1, n)


def in_sigmas(score: np.ndarray) -> np.ndarray:
    return score / (1 - score)


def test_surprise_scores_peak_at_a_spike_or_a_drop_in_either_direction():
    for sign in (1, -1):
        values = seasonal()
        values[1500] += sign * 40
        score = surprise_scores(values, learning=300)
        assert score.shape == values.shape and ((score >= 0) & (score < 1)).all()
        surprise = in_sigmas(score)
        assert int(np.argmax(surprise)) in (1500, 1501)  # the jump, or the step back when that is steeper
        assert surprise[1500] > 2 * np.delete(surprise, [1500, 1501]).max()  # well apart from the noise's best


def test_a_level_shift_raises_one_alarm_at_its_start_not_one_per_point():
    values = seasonal()
    values[1200:] += 60
    score = surprise_scores(values, learning=300)
    assert int(np.argmax(score)) == 1200
    assert np.count_nonzero(score[1201:1320] >= score[1200] / 2) == 0  # the cooldown keeps the rest quiet


def test_surprise_is_causal_the_future_does_not_change_past_scores():
    values = seasonal()
    before = surprise_scores(values[:1000], learning=300)
    values[1000:] += 500
    assert np.array_equal(surprise_scores(values, learning=300)[:1000], before)


def test_a_flat_learning_period_does_not_make_every_wobble_an_alarm():
    values = np.r_[np.full(300, 5.0), 5.0 + 0.01 * np.sin(np.arange(700))]
    values[900] = 9.0
    score = surprise_scores(values, learning=300)
    surprise = in_sigmas(score)
    assert int(np.argmax(surprise)) == 900
    assert np.delete(surprise, [900, 901]).max() < surprise[900] / 10


@pytest.mark.parametrize("values", [[], [np.nan] * 30, [1.0, 2.0]], ids=["empty", "nan", "short"])
def test_surprise_scores_are_zero_without_enough_data(values):
    assert not surprise_scores(values, learning=10).any()


def test_missing_values_score_zero_and_do_not_break_what_follows():
    values = seasonal()
    values[[700, 701, 1100]] = np.nan
    values[1500] += 40
    score = surprise_scores(values, learning=300)
    assert (score[[700, 701, 1100]] == 0).all() and int(np.argmax(score)) == 1500

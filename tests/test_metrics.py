"""Metric intervals: the expected calibration error's interval contains its own estimate."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import (
    brier,
    evaluate,
    expected_calibration_error,
    percentile_interval,
    recentred_interval,
)


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and outcomes drawn from them: a calibrated model, rare positives."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-2.2, 1.0, n)))
    return (rng.random(n) < p).astype(float), p


@pytest.mark.parametrize("n", [28, 120, 1000])
def test_the_ece_interval_contains_its_estimate(n: int) -> None:
    for seed in range(12):
        y, p = _calibrated(n, seed)
        ece = evaluate(y, p, bootstrap=100, seed=seed)["ece"]
        assert 0 <= ece["low"] <= ece["value"] <= ece["high"], (seed, ece)


def test_the_plain_percentile_interval_would_miss_it() -> None:
    """Why the interval is recentred: resampled ECEs sit above the estimate."""
    missed = 0
    for seed in range(12):
        y, p = _calibrated(1000, seed)
        value = expected_calibration_error(y, p, np.ones(len(y)))
        rng, draws = np.random.default_rng(seed), []
        for _ in range(100):
            idx = rng.integers(0, len(y), len(y))
            draws.append(expected_calibration_error(y[idx], p[idx], np.ones(len(y))))
        missed += percentile_interval(np.array(draws), 0.9)[0] > value
    assert missed > 0


def test_recentring_keeps_the_spread_and_the_floor() -> None:
    sample = np.array([0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22])
    low, high = recentred_interval(0.05, sample, 0.9, floor=0.0)
    p_low, p_high = percentile_interval(sample, 0.9)
    median = float(np.median(sample))
    assert low == pytest.approx(max(0.0, 0.05 - (median - p_low)))
    assert high == pytest.approx(0.05 + (p_high - median))
    assert low <= 0.05 <= high
    assert recentred_interval(0.01, sample, 0.9, floor=0.0)[0] == 0.0


def test_other_metrics_keep_their_percentile_interval() -> None:
    y, p = _calibrated(300, 1)
    metrics = evaluate(y, p, bootstrap=100, seed=3)
    rng, draws = np.random.default_rng(3), []
    for _ in range(100):
        idx = rng.integers(0, len(y), len(y))
        draws.append(brier(y[idx], p[idx], np.ones(len(y))))
    assert (metrics["brier"]["low"], metrics["brier"]["high"]) == pytest.approx(
        percentile_interval(np.array(draws), 0.9))

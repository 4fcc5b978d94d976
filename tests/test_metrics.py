"""Metric intervals: the expected calibration error's interval contains its own estimate."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from model.metrics import (
    auc_score_interval,
    brier,
    effective_counts,
    evaluate,
    expected_calibration_error,
    percentile_interval,
    proportion_score_interval,
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


def test_three_positives_ranked_perfectly_do_not_settle_the_auc() -> None:
    """A trial month: 3 of 28 with real impact, all ranked above the rest. Every bootstrap
    resample ranks them perfectly too; the interval must still say three outcomes are few."""
    y = np.r_[np.ones(3), np.zeros(25)]
    p = np.r_[np.linspace(0.6, 0.9, 3), np.linspace(0.01, 0.3, 25)]
    auc = evaluate(y, p, bootstrap=100, seed=0)["roc_auc"]
    assert auc["value"] == 1.0 and auc["high"] == 1.0
    assert 0.7 < auc["low"] < 0.8  # Newcombe's score interval: 0.75


def test_the_auc_score_interval_solves_its_equation_and_narrows_with_outcomes() -> None:
    z = NormalDist().inv_cdf(0.95)
    for auc, m, n in [(0.8, 50, 450), (0.62, 7, 30), (0.95, 12, 200)]:
        low, high = auc_score_interval(auc, m, n, 0.9)
        half = (m + n) / 2
        for theta in (low, high):
            variance = theta * (1 - theta) / (m * n) * (
                (2 * half - 1) - (3 * half - 3) / ((2 - theta) * (1 + theta)))
            assert abs(auc - theta) == pytest.approx(z * np.sqrt(variance), abs=1e-9)
        assert low < auc < high
        wider = auc_score_interval(auc, m // 2 or 1, n // 2, 0.9)
        assert wider[0] < low and wider[1] > high
    assert auc_score_interval(0.0, 3, 25, 0.9)[0] == 0.0
    assert np.isnan(auc_score_interval(0.7, 0, 25, 0.9)[0])


def test_with_as_many_positives_as_negatives_the_variance_is_hanley_and_mcneils() -> None:
    """Newcombe's method replaces both counts by their mean, so with m = n the variance at
    the bound is Hanley and McNeil's own (Q1 = t / (2 - t), Q2 = 2 t^2 / (1 + t))."""
    z = NormalDist().inv_cdf(0.95)
    for auc, count in [(0.7, 10), (0.9, 40), (0.55, 4)]:
        for t in auc_score_interval(auc, count, count, 0.9):
            q1, q2 = t / (2 - t), 2 * t * t / (1 + t)
            hanley = (t * (1 - t) + (count - 1) * (q1 - t * t)
                      + (count - 1) * (q2 - t * t)) / (count * count)
            assert abs(auc - t) == pytest.approx(z * np.sqrt(hanley), rel=1e-9)


@pytest.mark.parametrize("positives", [1.0, 1.7, 3.0, 40.0])
@pytest.mark.parametrize("negatives", [1.0, 2.5, 25.0, 1e4])
@pytest.mark.parametrize("value", [0.0, 0.01, 0.5, 0.93, 1.0])
def test_score_intervals_hold_their_value_within_zero_and_one(
        value: float, positives: float, negatives: float) -> None:
    for low, high in (auc_score_interval(value, positives, negatives, 0.9),
                      proportion_score_interval(value, positives, 0.9)):
        assert 0.0 <= low <= value <= high <= 1.0
        assert high - low > 0  # a finite number of outcomes never settles it


def test_the_auc_interval_holds_the_truth_as_often_as_it_says() -> None:
    """Binormal samples with a known AUC, 6 positives and 50 negatives: the 90% interval
    holds the true AUC in 85-97% of samples (bench/auc_interval.py measures more sizes)."""
    rng, truth, held = np.random.default_rng(1), NormalDist().cdf(2.0 / np.sqrt(2)), 0
    for _ in range(300):
        y = np.r_[np.ones(6), np.zeros(50)]
        score = np.r_[rng.normal(2.0, 1, 6), rng.normal(0, 1, 50)]
        auc = evaluate(y, score, bootstrap=1, seed=0)["roc_auc"]
        held += auc["low"] <= truth <= auc["high"]
    assert 0.85 <= held / 300 <= 0.97


def test_weighted_rows_count_by_their_effective_number() -> None:
    y = np.r_[np.ones(4), np.zeros(40)]
    w = np.r_[[5.0, 1.0, 1.0, 1.0], np.ones(40)]
    positives, negatives = effective_counts(y, w)
    assert positives == pytest.approx(64 / 28) and negatives == pytest.approx(40)
    p = np.r_[[0.9, 0.2, 0.8, 0.7], np.linspace(0.0, 0.5, 40)]
    auc = evaluate(y, p, w, bootstrap=10, seed=0)["roc_auc"]
    assert (auc["low"], auc["high"]) == pytest.approx(
        auc_score_interval(auc["value"], positives, negatives, 0.9))
    unweighted = evaluate(y, p, bootstrap=10, seed=0)["roc_auc"]
    assert auc["high"] - auc["low"] > unweighted["high"] - unweighted["low"]


def test_the_pr_auc_gets_wilsons_interval_over_the_positives() -> None:
    y = np.r_[np.ones(3), np.zeros(25)]
    p = np.r_[np.linspace(0.6, 0.9, 3), np.linspace(0.01, 0.3, 25)]
    pr = evaluate(y, p, bootstrap=100, seed=0)["pr_auc"]
    assert pr["value"] == 1.0 and pr["high"] == 1.0
    assert pr["low"] == pytest.approx(3 / (3 + 1.6448536269514722 ** 2))  # Wilson at 3 of 3
    low, high = proportion_score_interval(0.4, 20, 0.9)
    z2 = 1.6448536269514722 ** 2
    for bound in (low, high):  # the bounds solve (share - b)^2 = z^2 b (1 - b) / count
        assert (0.4 - bound) ** 2 == pytest.approx(z2 * bound * (1 - bound) / 20)
    assert proportion_score_interval(0.0, 5, 0.9)[0] == 0.0
    assert np.isnan(proportion_score_interval(0.5, 0, 0.9)[0])

"""The promotion gate's rules, on metrics as `evaluate` gives them."""

from __future__ import annotations

import numpy as np

from model.config import GateSettings
from model.gate import decide, with_chance_check
from model.metrics import evaluate, percentile_interval, roc_auc


def _metrics(value: float, low: float, high: float, loss: float) -> dict[str, dict[str, float]]:
    return {"roc_auc": {"value": value, "low": low, "high": high},
            "log_loss": {"value": loss, "low": loss, "high": loss}}


def test_the_gate_keeps_a_challenger_that_loses_log_loss_or_ranks_clearly_worse() -> None:
    settings = GateSettings(log_loss_tolerance=0.02)
    champion = _metrics(0.80, 0.75, 0.85, 0.30)
    assert decide(champion, _metrics(0.79, 0.74, 0.84, 0.31), settings).passed
    worse_loss = decide(champion, _metrics(0.80, 0.75, 0.85, 0.33), settings)
    assert not worse_loss.passed and "log loss worse by 0.0300" in worse_loss.reason
    below = decide(champion, _metrics(0.65, 0.60, 0.70, 0.30), settings)
    assert not below.passed and "sits below the champion's [0.750, 0.850]" in below.reason
    assert decide(champion, _metrics(0.65, 0.60, 0.70, 0.30),
                  GateSettings(require_auc_overlap=False)).passed


def test_a_small_period_ranked_perfectly_by_the_champion_needs_a_real_gap_to_refuse() -> None:
    """28 proposals, 3 with real impact: the champion ranks them first, the challenger puts
    each below a few others. Every bootstrap resample of the champion's ranking is perfect,
    so its percentile interval is [1, 1] and the challenger's sits below it on three outcomes;
    the score interval says three outcomes cannot tell the two apart."""
    y = np.r_[np.ones(3), np.zeros(25)]
    champion_scores = np.r_[[0.9, 0.8, 0.7], np.linspace(0.0, 0.5, 25)]
    challenger_scores = np.r_[[0.46, 0.44, 0.42], np.linspace(0.0, 0.5, 25)]
    champion, challenger = (evaluate(y, p, bootstrap=200, seed=0)
                            for p in (champion_scores, challenger_scores))
    assert champion["roc_auc"]["value"] == 1.0 and challenger["roc_auc"]["value"] < 0.9
    rng, w = np.random.default_rng(0), np.ones_like(y)
    resamples = [rng.integers(0, len(y), len(y)) for _ in range(200)]
    draws = {name: np.array([roc_auc(y[i], p[i], w[i]) for i in resamples])
             for name, p in (("champion", champion_scores), ("challenger", challenger_scores))}
    bootstrap = {name: percentile_interval(d[np.isfinite(d)], 0.9) for name, d in draws.items()}
    assert bootstrap["champion"] == (1.0, 1.0)
    assert bootstrap["challenger"][1] < 1.0  # the bootstrap would have refused it
    lenient = GateSettings(log_loss_tolerance=10.0)
    assert decide(champion, challenger, lenient).passed


def test_a_newest_period_ranked_worse_than_chance_is_not_learned_without_a_look() -> None:
    """Outcomes recorded the wrong way round: the champion ranks the newest period far worse
    than chance, and the challenger, retrained without it, too. Their comparison would pass
    (both equally wrong); the gate keeps the champion and says what to check."""
    y = np.r_[np.ones(6), np.zeros(34)]
    right = np.r_[np.linspace(0.5, 0.9, 6), np.linspace(0.0, 0.6, 34)]
    backwards = 1.0 - y  # what the period's file says
    w = np.ones_like(y)
    champion, challenger = (with_chance_check(evaluate(backwards, p, bootstrap=50, seed=0),
                                              backwards, w) for p in (right, right * 0.99))
    assert champion["roc_auc_99"]["high"] < 0.5
    settings = GateSettings(log_loss_tolerance=0.02)
    plain = {k: v for k, v in champion.items() if k != "roc_auc_99"}
    assert decide(plain, challenger, settings).passed, "the comparison alone would pass"
    decision = decide(champion, challenger, settings)
    assert not decision.passed
    assert "ranks the newest period worse than chance" in decision.reason
    assert "99% interval" in decision.reason and "recorded the right way round" in decision.reason
    fair = with_chance_check(evaluate(y, right, bootstrap=50, seed=0), y, w)
    assert decide(fair, fair, settings).passed


def test_a_champion_without_skill_is_rarely_kept_back_as_worse_than_chance() -> None:
    """Random scores on months of 40 proposals, 6 with real impact: the 90% interval sits
    wholly below 0.5 in about one month in twenty; the gate's 99% one in about 1 in 200."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(6), np.zeros(34)]
    w = np.ones_like(y)
    months = [with_chance_check(evaluate(y, rng.random(40), bootstrap=0, seed=0), y, w)
              for _ in range(2000)]
    at_90 = np.mean([m["roc_auc"]["high"] < 0.5 for m in months])
    at_99 = np.mean([m["roc_auc_99"]["high"] < 0.5 for m in months])
    assert 0.02 < at_90 < 0.09 and at_99 < 0.012


def test_a_reversed_month_is_caught_by_its_ranking_and_its_count_together() -> None:
    """The walk-through's month: 40 proposals whose outcomes were flipped, a champion of
    modest skill. Its 99% AUC interval reaches above 0.5, but the count of real impacts
    (33 where about 4 were expected) is far outside what the champion allows: kept."""
    rng = np.random.default_rng(3)
    p = np.clip(rng.beta(1.2, 9.0, 40), 0.01, 0.9)
    truth = np.zeros(40)
    truth[np.argsort(-p)[[0, 2, 5, 9, 14, 22, 30]]] = 1  # 7 impacts, ranked with some skill
    backwards = 1.0 - truth
    w = np.ones(40)
    champion = with_chance_check(evaluate(backwards, p, bootstrap=200, seed=0), backwards, w, p)
    assert champion["roc_auc_99"]["high"] >= 0.5 and champion["roc_auc"]["high"] < 0.5
    count = champion["impact_count"]
    assert count["value"] == 33 and count["high"] < 15
    decision = decide(champion, champion, GateSettings(log_loss_tolerance=10.0))
    assert not decision.passed and "holds 33 real impacts where the champion's" in decision.reason
    right = with_chance_check(evaluate(truth, p, bootstrap=200, seed=0), truth, w, p)
    assert right["impact_count"]["low"] <= 7 <= right["impact_count"]["high"]
    assert decide(right, right, GateSettings(log_loss_tolerance=10.0)).passed


def test_the_count_rule_hardly_ever_keeps_back_a_calibrated_champion_without_skill() -> None:
    """Random but calibrated scores (each outcome drawn from its probability, then scores
    shuffled): the 90% AUC interval falls below 0.5 in about 5% of months, the count
    outside its 99.9% range in about 0.1%: together in well under 1%."""
    rng = np.random.default_rng(1)
    kept = 0
    for _ in range(1000):
        p = np.clip(rng.beta(1.5, 10.0, 40), 0.01, 0.9)
        y = (rng.random(40) < p).astype(float)
        if 0 < y.sum() < 40:
            shuffled = rng.permutation(p)
            m = with_chance_check(evaluate(y, shuffled, bootstrap=0, seed=0), y, np.ones(40),
                                  shuffled)
            kept += not decide(m, m, GateSettings(log_loss_tolerance=10.0)).passed
    assert kept <= 5

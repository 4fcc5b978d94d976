"""The belief-based Bayesian logistic model: verdicts, intervals, exact export, strict signs."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from model.bayes import BayesianLogistic, probability_interval, verdict
from model.beliefs import Belief, Prior, build_prior, check_beliefs, default_beliefs
from model.calibration import Platt
from model.config import Column, Config, ConfigError
from model.features import FeatureEncoder
from model.scorer import LINEAR, ScoringModel
from model.simulate import SimulationParams, simulate_history

os.environ.setdefault("OMP_NUM_THREADS", "1")

FEATURES = (
    Column("plan", "boolean", required="yes", feature=True),
    Column("hours", "number", required="yes", feature=True, log=True),
    Column("stage", "category", required="yes", feature=True, values=("upstream", "same_stage")),
    Column("noise", "number", required="yes", feature=True),
)
TRUE_EFFECT = {"plan": 1.5, "hours": -0.8, "upstream": 0.6}  # log-odds per encoded unit


def _proposals(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Proposals whose outcomes follow TRUE_EFFECT (noise has no effect)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "plan": (rng.random(n) < 0.4).astype(float),
        "hours": np.round(rng.lognormal(np.log(10), 0.8, n), 1),
        "stage": rng.choice(["upstream", "same_stage"], n),
        "noise": rng.normal(0, 1, n),
    })
    logit = (-1.5 + TRUE_EFFECT["plan"] * frame["plan"]
             + TRUE_EFFECT["hours"] * (np.log1p(frame["hours"]) - np.log(11))
             + TRUE_EFFECT["upstream"] * (frame["stage"] == "upstream"))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(float)
    return frame, y


def _fit(beliefs: Sequence[Belief], n: int, seed: int = 0,
         weights: np.ndarray | None = None) -> tuple[BayesianLogistic, FeatureEncoder, np.ndarray]:
    frame, y = _proposals(n, seed)
    encoder = FeatureEncoder(FEATURES, rare_level_min_count=1).fit(frame)
    X = encoder.transform(frame)
    prior = build_prior(beliefs, encoder, X, y, weights)
    return BayesianLogistic(prior).fit(X, y, weights), encoder, X


def _verdicts(model: BayesianLogistic) -> dict[str, str]:
    return {check.name: check.verdict for check in model.belief_checks()}


def test_the_outcomes_confirm_contradict_or_leave_a_belief_uncertain() -> None:
    beliefs = [Belief("plan", 1), Belief("hours", 1), Belief("noise", 1),
               Belief("stage", levels={"upstream": 1, "same_stage": -1})]
    model, _, _ = _fit(beliefs, 3000)
    assert _verdicts(model) == {"plan": "confirmed", "hours": "contradicted",
                                "noise": "uncertain", "stage=upstream": "confirmed",
                                "stage=same_stage": "confirmed"}


def test_a_level_effect_is_the_contribution_explanations_show() -> None:
    beliefs = [Belief("stage", levels={"upstream": 1})]
    model, encoder, X = _fit(beliefs, 400)
    scoring = ScoringModel(encoder, LINEAR, Platt(), coef=model.coef_, intercept=model.intercept_,
                           reference=X.mean(axis=0))
    block = [i for i, name in enumerate(encoder.columns_) if name.startswith("stage=")]
    upstream = X[:, encoder.columns_.index("stage=upstream")] == 1
    _, _, shares = scoring.column_contributions(X[upstream][:1])
    check = model.belief_checks()[0]
    assert check.name == "stage=upstream"
    assert shares[0, block].sum() == pytest.approx(check.effect, abs=1e-9)
    effect, low, high = model.column_intervals()
    assert np.all(low < effect) and np.all(effect < high)


def test_verdict_needs_the_whole_interval_on_one_side() -> None:
    assert verdict(1, 0.1, 0.9) == "confirmed"
    assert verdict(-1, 0.1, 0.9) == "contradicted"
    assert verdict(1, -0.1, 0.9) == "uncertain"


def test_every_probability_lies_inside_its_interval() -> None:
    model, _, X = _fit(default_beliefs(FEATURES), 60)
    rng = np.random.default_rng(1)
    extreme = X[rng.integers(0, len(X), 500)] * rng.choice([-50.0, 1.0, 50.0], (500, 1))
    for rows in (X, extreme):
        low, p, high = model.probability_interval(rows)
        assert np.all(low <= p) and np.all(p <= high)
        assert np.all((low >= 0) & (high <= 1))
    assert np.all(model.margin_sd(X) > 0), "a fitted model is never certain"


def test_model_error_widens_every_interval() -> None:
    margin, sd = np.array([-3.0, 0.0, 2.0]), np.array([0.5, 0.2, 1.0])
    narrow = probability_interval(margin, sd, model_error=0.0)
    wide = probability_interval(margin, sd, model_error=0.5)
    assert np.all(wide[0] < narrow[0]) and np.all(wide[1] > narrow[1])


def test_exported_contributions_add_up_to_the_margin() -> None:
    model, encoder, X = _fit(default_beliefs(FEATURES), 200)
    scoring = ScoringModel(encoder, LINEAR, Platt(), coef=model.coef_, intercept=model.intercept_,
                           reference=X.mean(axis=0))
    margin, base, shares = scoring.column_contributions(X)
    np.testing.assert_allclose(base + shares.sum(axis=1), model.margin(X), atol=1e-12)
    np.testing.assert_allclose(margin, model.margin(X), atol=1e-12)


def test_raw_covariance_matches_the_standardised_posterior() -> None:
    model, _, X = _fit(default_beliefs(FEATURES), 200)
    Z = np.column_stack([np.ones(len(X)), (X - model.prior.center) / model.prior.unit])
    expected = np.sqrt(np.einsum("ij,jk,ik->i", Z, model.std_covariance_, Z))
    np.testing.assert_allclose(model.margin_sd(X), expected, rtol=1e-8)


def test_same_data_and_beliefs_give_the_same_model(config: Config) -> None:
    def fit() -> BayesianLogistic:
        history, _ = simulate_history(SimulationParams(periods=1, per_period=28, seed=3))
        encoder = FeatureEncoder(config.features).fit(history)
        X, y = encoder.transform(history), history["real_impact"].to_numpy(float)
        return BayesianLogistic(build_prior(default_beliefs(config.features), encoder, X, y)).fit(X, y)

    first, second = fit(), fit()
    np.testing.assert_array_equal(first.coef_, second.coef_)
    np.testing.assert_array_equal(first.covariance_, second.covariance_)
    assert first.intercept_ == second.intercept_


def test_a_strict_belief_keeps_its_sign_where_a_soft_one_gives_way() -> None:
    soft, _, _ = _fit([Belief("hours", 1)], 2000)
    strict, _, _ = _fit([Belief("hours", 1, strict=True)], 2000)
    column = soft.prior.columns.index("hours")
    assert soft.coef_[column] < 0, "the data says hours lower impact"
    assert strict.coef_[column] >= 0
    check = strict.belief_checks()[0]
    assert check.low >= 0 and check.verdict != "contradicted"


def test_the_prior_dominates_a_few_outcomes_and_fades_with_many() -> None:
    wrong = [Belief("plan", -1, strength="moderate", effect=0.5)]
    column = 0  # plan, a 0/1 column: its effect per typical change is its coefficient
    tiny, _, _ = _fit(wrong, 12)
    large, _, _ = _fit(wrong, 20_000)
    effect, sd = tiny.theta_[1 + column], np.sqrt(tiny.std_covariance_[1 + column, 1 + column])
    assert abs(effect - (-0.5)) < abs(effect - TRUE_EFFECT["plan"]), "closer to the belief"
    assert sd > 0.7 * 0.5, "a dozen outcomes hardly narrow the prior"
    assert abs(large.theta_[1 + column] - TRUE_EFFECT["plan"]) < 0.15
    assert large.belief_checks()[0].verdict == "contradicted"


def test_uniform_weights_change_nothing() -> None:
    plain, _, _ = _fit(default_beliefs(FEATURES), 300)
    weighted, _, _ = _fit(default_beliefs(FEATURES), 300, weights=np.full(300, 5.0))
    np.testing.assert_allclose(weighted.coef_, plain.coef_, rtol=1e-9)
    np.testing.assert_allclose(weighted.covariance_, plain.covariance_, rtol=1e-9)


def test_a_rare_level_without_its_own_column_gets_no_belief() -> None:
    frame, y = _proposals(40, 0)
    frame.loc[frame.index[3:], "stage"] = "upstream"
    encoder = FeatureEncoder(FEATURES, rare_level_min_count=5).fit(frame)
    X = encoder.transform(frame)
    prior: Prior = build_prior([Belief("stage", levels={"same_stage": -1})], encoder, X, y)
    assert prior.targets == () and not prior.mean.any()


def test_a_belief_without_direction_only_bounds_the_effect() -> None:
    frame, y = _proposals(100, 0)
    encoder = FeatureEncoder(FEATURES, rare_level_min_count=1).fit(frame)
    X = encoder.transform(frame)
    prior = build_prior([Belief("noise", 0, strength=0.1)], encoder, X, y)
    column = prior.columns.index("noise")
    assert prior.scale[column] == 0.1 and prior.mean[column] == 0.0
    assert prior.targets == (), "no direction, nothing to confirm"


@pytest.mark.parametrize(("belief", "message"), [
    (Belief("unknown", 1), "no feature of that name"),
    (Belief("stage", 1), "a category has no order"),
    (Belief("stage", levels={"downstream": 1}), "unknown level"),
    (Belief("plan", levels={"x": 1}), "levels apply to category columns only"),
])
def test_beliefs_the_features_cannot_hold_are_refused(belief: Belief, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_beliefs([belief], FEATURES)


@pytest.mark.parametrize("options", [
    {"direction": 2}, {"strength": "certain"}, {"strength": -1.0}, {"effect": 0.0},
    {"levels": {"upstream": 3}}, {"direction": 1, "levels": {"upstream": 1}},
])
def test_malformed_beliefs_are_refused(options: dict) -> None:
    with pytest.raises(ConfigError, match="belief on stage"):
        Belief("stage", **options)


def test_default_beliefs_follow_the_configured_directions_and_levels(config: Config) -> None:
    beliefs = {b.feature: b for b in default_beliefs(config.features)}
    directions = {name: b.direction for name, b in beliefs.items() if b.direction}
    assert directions == {c.name: c.monotone for c in config.features if c.monotone}
    assert beliefs["has_action_plan"].direction == 1
    assert beliefs["internal_hours_estimate"].direction == -1
    assert beliefs["has_action_plan"].strength == "moderate" and not beliefs["has_action_plan"].strict
    assert beliefs["lifecycle_position"].levels == {"upstream": 1, "downstream": 1, "same_stage": -1}
    assert config.beliefs == tuple(beliefs.values())


def test_effects_without_a_stated_direction_are_the_ones_left_to_learn() -> None:
    frame, y = _proposals(300, 0)
    features = (*FEATURES[:3], Column("reach", "number", required="no", feature=True))
    frame["reach"] = np.where(np.arange(300) % 7 == 0, np.nan, frame["noise"])
    encoder = FeatureEncoder(features, rare_level_min_count=1).fit(frame)
    X = encoder.transform(frame)
    prior = build_prior([Belief("plan", 1), Belief("stage", levels={"upstream": 1})],
                        encoder, X, y)
    assert [t.name for t in prior.targets] == ["plan", "stage=upstream"]
    assert [t.name for t in prior.others] == ["hours", "stage=same_stage", "reach"]
    assert all(t.sign == 0 for t in prior.others)  # no missing flag, no `other` level


def test_only_clear_effects_are_learned() -> None:
    model, _, _ = _fit([Belief("plan", 1)], 3000)
    learned = {e.name: e for e in model.learned_effects()}
    assert learned["hours"].verdict == "lowers" and learned["hours"].high < 0
    assert learned["stage=upstream"].verdict == "raises"
    assert "noise" not in learned and "plan" not in learned
    effects = [abs(e.effect) for e in model.learned_effects()]
    assert effects == sorted(effects, reverse=True)

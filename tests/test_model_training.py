"""Training on small, imbalanced data: guardrails, exact explanations, intervals, reproducibility."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.calibration import fit_platt, sigmoid
from model.config import ColumnBelief, Config
from model.errors import TrainingRefused
from model.estimators import CandidateSpec
from model.explain import explain
from model.intervals import linear_posterior, replicate_margins, with_tree_interval
from model.pairs import pair_name
from model.scorer import ScoringModel
from model.selection import fit_procedure, n_folds, prepare
from model.training import train_model


def _quick(config: Config, **model: Any) -> Config:
    settings = dataclasses.replace(config.model, cv_repeats=1, bootstrap_samples=30,
                                   backtest_periods=2, **model)
    return dataclasses.replace(config, model=settings)


SPECS = [
    CandidateSpec("bayes_logistic"),
    CandidateSpec("logistic", {"C": 0.3}),
    CandidateSpec("boosted_trees", {"learning_rate": 0.1, "max_iter": 40, "max_depth": 3,
                                    "min_samples_leaf": 20, "l2_regularization": 1.0}),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_contributions_add_up_for_every_candidate(history: pd.DataFrame, config: Config,
                                                  spec: CandidateSpec) -> None:
    data = prepare(history, config)
    model, _ = fit_procedure(spec, data, _quick(config), seed=0)
    expl = explain(model, history)
    names = tuple(c.name for c in config.features)
    assert expl.features[:len(names)] == names
    assert expl.contributions.shape == (len(history), len(expl.features))
    pairs = {pair_name(pair) for pair in config.interactions}
    assert set(expl.features[len(names):]) <= pairs  # the pair terms come last
    np.testing.assert_allclose(expl.base_logit + expl.contributions.sum(axis=1), expl.logit,
                               atol=1e-9)
    np.testing.assert_allclose(expl.probability, model.predict_proba(history), atol=1e-12)
    np.testing.assert_allclose(expl.points.sum(axis=1),
                               expl.probability - expl.base_probability, atol=1e-6)
    assert np.all(np.sign(expl.points) == np.sign(expl.contributions))


def _interval_model(spec: CandidateSpec, history: pd.DataFrame, config: Config) -> ScoringModel:
    """The procedure's model with its interval, as training exports it."""
    quick = _quick(config)
    data = prepare(history, quick)
    model, _ = fit_procedure(spec, data, quick, seed=0)
    if spec.kind != "boosted_trees":
        return model
    replicates = np.array([replicate_margins(spec, data, quick, 0, b) for b in range(4)])
    return with_tree_interval(model, replicates, linear_posterior(model.encoder, data, quick), data)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_every_probability_lies_inside_its_interval(history: pd.DataFrame, config: Config,
                                                    spec: CandidateSpec) -> None:
    model = _interval_model(spec, history, config)
    rng = np.random.default_rng(0)
    # Far-off proposals too: numbers scaled by 100, whose margins saturate the sigmoid.
    far = history.assign(internal_hours_estimate=history["internal_hours_estimate"] * 100,
                         expected_reach=history["expected_reach"] * 100)
    for proposals in (history, far.iloc[rng.permutation(len(far))]):
        p = model.predict_proba(proposals)
        interval = model.probability_interval(proposals)
        assert interval is not None
        low, high = interval
        assert np.all(low <= p) and np.all(p <= high)
        assert np.all(low >= 0) and np.all(high <= 1) and np.all(high - low > 0)
    if spec.kind != "bayes_logistic":
        assert model.calibration.slope != 1.0, "the interval was checked after calibration"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_intervals_survive_export_and_older_bundles_have_none(
        history: pd.DataFrame, config: Config, spec: CandidateSpec) -> None:
    model = _interval_model(spec, history, config)
    meta, arrays = model.to_parts()
    assert all(isinstance(a, np.ndarray) and a.dtype.kind in "biuf" for a in arrays.values())
    loaded = ScoringModel.from_parts(json.loads(json.dumps(meta)), arrays, config.features)
    expected = model.probability_interval(history)
    assert expected is not None
    np.testing.assert_array_equal(loaded.probability_interval(history), expected)
    older_meta = {k: v for k, v in meta.items() if k != "interval"}
    older = {k: v for k, v in arrays.items() if not k.startswith("interval.")}
    assert ScoringModel.from_parts(older_meta, older, config.features).probability_interval(
        history) is None


def test_the_bayes_interval_is_its_posterior_with_the_model_error(history: pd.DataFrame,
                                                                  config: Config) -> None:
    model = _interval_model(SPECS[0], history, config)
    X = model.encoder.transform(history)
    logit = model.calibration.logit(model.column_contributions(X)[0])
    interval = model.interval_from(X, logit)
    assert interval is not None and model.covariance is not None
    low, high = interval
    design = np.column_stack([np.ones(len(X)), X])
    sd = np.sqrt(np.einsum("ij,jk,ik->i", design, model.covariance, design))
    half = 1.6448536269514722 * np.sqrt(sd**2 + config.model.model_error_sd**2)
    np.testing.assert_allclose(low, sigmoid(logit - half), rtol=1e-9)
    np.testing.assert_allclose(high, sigmoid(logit + half), rtol=1e-9)


def test_same_data_config_and_seed_give_the_same_model(history: pd.DataFrame,
                                                       config: Config) -> None:
    quick = _quick(config)
    first, second = train_model(history, quick, seed=7), train_model(history, quick, seed=7)
    assert first.chosen == second.chosen
    assert first.metrics == second.metrics
    assert first.beliefs == second.beliefs and first.learned == second.learned
    np.testing.assert_array_equal(first.model.predict_proba(history),
                                  second.model.predict_proba(history))
    np.testing.assert_array_equal(first.model.probability_interval(history),
                                  second.model.probability_interval(history))


def test_one_outcome_only_is_refused(history: pd.DataFrame, config: Config) -> None:
    for outcome, words in ((0, "no real impact"), (1, "real impact")):
        same = history[history["real_impact"] == outcome]
        with pytest.raises(TrainingRefused, match=f"all {len(same)} labelled proposals have "
                                                  f"{words}: a model needs both outcomes"):
            train_model(same, config)


@pytest.mark.parametrize("positives", [1, 2, 5])
def test_a_handful_of_positives_trains_the_bayes_model_alone(
        history: pd.DataFrame, config: Config, positives: int) -> None:
    few = pd.concat([history[history["real_impact"] == 0].head(60),
                     history[history["real_impact"] == 1].head(positives)])
    legacy = dataclasses.replace(config.model, candidates=("logistic", "boosted_trees"))
    for settings in (config.model, legacy):
        result = train_model(few, _quick(dataclasses.replace(config, model=settings)))
        assert result.chosen == CandidateSpec("bayes_logistic")
        assert result.provisional and (result.positives, result.negatives) == (positives, 60)
        assert "VERY LITTLE DATA" in result.warnings[0] and "provisional" in result.warnings[0]
        assert result.data_summary["cv_folds"] == max(2, min(5, positives))
        interval = result.model.probability_interval(few)
        assert interval is not None and np.all(interval[0] < interval[1])
        assert len(result.beliefs) == len([b for b in config.beliefs if b.direction]) + 3


def test_scarce_outcomes_train_only_the_most_regularised_candidate(
        history: pd.DataFrame, config: Config) -> None:
    scarce = pd.concat([history[history["real_impact"] == 0],
                        history[history["real_impact"] == 1].head(9)])
    result = train_model(scarce, _quick(config))
    assert result.chosen == CandidateSpec("bayes_logistic")
    assert len(result.candidates) == 1 and result.provisional
    assert "LITTLE DATA" in result.warnings[0]
    legacy = dataclasses.replace(config.model, candidates=("logistic", "boosted_trees"))
    result = train_model(scarce, _quick(dataclasses.replace(config, model=legacy)))
    assert result.chosen == CandidateSpec("logistic", {"C": min(config.model.logistic_c)})


def test_enough_outcomes_are_not_provisional(history: pd.DataFrame, config: Config) -> None:
    settings = dataclasses.replace(config.model, comfortable_positives=20)
    result = train_model(history, _quick(dataclasses.replace(config, model=settings)))
    assert not result.provisional and len(result.candidates) == 3
    assert result.positives == int(history["real_impact"].sum())
    assert not [w for w in result.warnings if "LITTLE DATA" in w]


def test_folds_never_exceed_either_class() -> None:
    assert n_folds(np.array([1, 1, 1, 0, 0, 0, 0, 0]), 5) == 3
    assert n_folds(np.array([1] * 8 + [0] * 100), 5) == 5


def test_a_strict_belief_never_lowers_the_probability(history: pd.DataFrame,
                                                      config: Config) -> None:
    strict = _with_column(config, "has_action_plan", belief=ColumnBelief(strict=True))
    # Outcomes where the action plan hurts: a soft belief gives way, a strict one holds.
    reversed_plan = history.assign(real_impact=np.where(history["has_action_plan"] == 1.0, 0.0,
                                                        history["real_impact"]))
    without = history.assign(has_action_plan=0.0)
    with_plan = history.assign(has_action_plan=1.0)
    soft = train_model(reversed_plan, _quick(config), seed=1).model
    assert np.all(soft.predict_proba(with_plan) < soft.predict_proba(without))
    for candidates in (("bayes_logistic",), ("logistic",), ("boosted_trees",)):
        settings = dataclasses.replace(strict.model, candidates=candidates)
        model = train_model(reversed_plan, _quick(dataclasses.replace(strict, model=settings)),
                            seed=1).model
        assert np.all(model.predict_proba(with_plan)
                      >= model.predict_proba(without) - 1e-12), candidates


def _with_column(config: Config, name: str, **changes: object) -> Config:
    columns = tuple(dataclasses.replace(c, **changes) if c.name == name else c  # type: ignore[arg-type]
                    for c in config.columns)
    return dataclasses.replace(config, columns=columns)


def test_relabelling_proposal_ids_changes_no_prediction(history: pd.DataFrame,
                                                        config: Config) -> None:
    result = train_model(history, _quick(config), seed=0)
    renamed = history.assign(proposal_id=[f"X{i}" for i in range(len(history))])
    np.testing.assert_array_equal(result.model.predict_proba(history),
                                  result.model.predict_proba(renamed))


def test_propensity_weights_change_the_fit(history: pd.DataFrame, config: Config) -> None:
    spec = CandidateSpec("logistic", {"C": 1.0})
    config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                   propensity_weights="fit"))
    plain = fit_procedure(spec, prepare(history, config), _quick(config), 0)[0]
    weighted_rows = history.assign(acceptance_propensity=np.where(
        history["has_action_plan"] == 1.0, 1.0, 0.1))
    data = prepare(weighted_rows, config)
    assert data.effective_size < len(history)
    weighted = fit_procedure(spec, data, _quick(config), 0)[0]
    assert not np.allclose(plain.predict_proba(history), weighted.predict_proba(history))


def test_platt_recovers_a_known_affine_map() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(size=20_000)
    y = (rng.random(20_000) < sigmoid(0.5 * margin - 1.0)).astype(float)
    platt = fit_platt(margin, y)
    assert platt.slope == pytest.approx(0.5, abs=0.05)
    assert platt.offset == pytest.approx(-1.0, abs=0.05)


def test_platt_stays_finite_when_margins_separate_the_classes() -> None:
    margin = np.r_[np.linspace(-50, -1, 40), np.linspace(1, 50, 5)]
    y = np.r_[np.zeros(40), np.ones(5)]
    platt = fit_platt(margin, y)
    assert 0 < platt.slope < 10 and np.isfinite(platt.offset)
    p = sigmoid(platt.logit(margin))
    assert p[y == 1].min() > p[y == 0].max()


def test_the_chosen_bayes_fit_is_the_posterior_reused(history: pd.DataFrame,
                                                      config: Config) -> None:
    from model.selection import BAYES_SPEC, fit_margin

    config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                   interval_level=0.8))
    data = prepare(history, config)
    encoder, fitted, _ = fit_margin(BAYES_SPEC, data.proposals, data.y, data.weights, config, 0)
    reused = linear_posterior(encoder, data, config, fitted)
    fresh = linear_posterior(encoder, data, config)
    np.testing.assert_array_equal(reused.theta_, fresh.theta_)
    np.testing.assert_array_equal(reused.covariance_, fresh.covariance_)
    assert reused.belief_checks() == fresh.belief_checks()
    assert (reused.level, reused.model_error) == (0.8, config.model.model_error_sd)
    assert fitted.posterior_.level == 0.90  # the candidate's own fit is left as it was

"""Training on small, imbalanced data: guardrails, exact explanations, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from model.calibration import fit_platt, sigmoid
from model.config import Config
from model.errors import TrainingRefused
from model.estimators import CandidateSpec
from model.explain import explain
from model.selection import fit_procedure, n_folds, prepare
from model.training import train_model


def _quick(config: Config, **model: object) -> Config:
    settings = dataclasses.replace(config.model, cv_repeats=1, bootstrap_samples=30,
                                   backtest_periods=2, **model)
    return dataclasses.replace(config, model=settings)


@pytest.mark.parametrize("spec", [
    CandidateSpec("logistic", {"C": 0.3}),
    CandidateSpec("boosted_trees", {"learning_rate": 0.1, "max_iter": 40, "max_depth": 3,
                                    "min_samples_leaf": 20, "l2_regularization": 1.0}),
])
def test_contributions_add_up_for_every_candidate(history: pd.DataFrame, config: Config,
                                                  spec: CandidateSpec) -> None:
    data = prepare(history, config)
    model, _ = fit_procedure(spec, data, _quick(config), seed=0)
    expl = explain(model, history)
    assert expl.contributions.shape == (len(history), len(config.features))
    np.testing.assert_allclose(expl.base_logit + expl.contributions.sum(axis=1), expl.logit,
                               atol=1e-6)
    np.testing.assert_allclose(expl.probability, model.predict_proba(history), atol=1e-12)
    np.testing.assert_allclose(expl.points.sum(axis=1),
                               expl.probability - expl.base_probability, atol=1e-6)
    assert np.all(np.sign(expl.points) == np.sign(expl.contributions))


def test_same_data_config_and_seed_give_the_same_model(history: pd.DataFrame,
                                                       config: Config) -> None:
    quick = _quick(config)
    first, second = train_model(history, quick, seed=7), train_model(history, quick, seed=7)
    assert first.chosen == second.chosen
    assert first.metrics == second.metrics
    np.testing.assert_array_equal(first.model.predict_proba(history),
                                  second.model.predict_proba(history))


def test_one_outcome_only_is_refused(history: pd.DataFrame, config: Config) -> None:
    negatives = history[history["real_impact"] == 0]
    with pytest.raises(TrainingRefused, match="both outcomes"):
        train_model(negatives, config)


def test_too_few_positives_is_refused_clearly(history: pd.DataFrame, config: Config) -> None:
    few = pd.concat([history[history["real_impact"] == 0],
                     history[history["real_impact"] == 1].head(5)])
    with pytest.raises(TrainingRefused, match=r"only 5 proposals with real impact.*at least 8"):
        train_model(few, config)


def test_scarce_outcomes_train_only_the_most_regularised_candidate(
        history: pd.DataFrame, config: Config) -> None:
    scarce = pd.concat([history[history["real_impact"] == 0],
                        history[history["real_impact"] == 1].head(9)])
    result = train_model(scarce, _quick(config))
    assert result.chosen == CandidateSpec("logistic", {"C": min(config.model.logistic_c)})
    assert len(result.candidates) == 1
    assert "LITTLE DATA" in result.warnings[0]


def test_folds_never_exceed_either_class() -> None:
    assert n_folds(np.array([1, 1, 1, 0, 0, 0, 0, 0]), 5) == 3
    assert n_folds(np.array([1] * 8 + [0] * 100), 5) == 5


def test_declared_monotone_features_never_lower_the_probability(
        history: pd.DataFrame, config: Config) -> None:
    result = train_model(history, _quick(config), seed=1)
    without = history.assign(has_action_plan=0.0)
    with_plan = history.assign(has_action_plan=1.0)
    assert np.all(result.model.predict_proba(with_plan)
                  >= result.model.predict_proba(without) - 1e-12)


def test_relabelling_proposal_ids_changes_no_prediction(history: pd.DataFrame,
                                                        config: Config) -> None:
    result = train_model(history, _quick(config), seed=0)
    renamed = history.assign(proposal_id=[f"X{i}" for i in range(len(history))])
    np.testing.assert_array_equal(result.model.predict_proba(history),
                                  result.model.predict_proba(renamed))


def test_propensity_weights_change_the_fit(history: pd.DataFrame, config: Config) -> None:
    spec = CandidateSpec("logistic", {"C": 1.0})
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

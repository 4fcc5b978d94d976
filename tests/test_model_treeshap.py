"""Our explanations are shap's, exactly: compiled TreeSHAP tables and linear shares against shap.

Every comparison calls shap's own explainer on the fitted estimator: TreeExplainer on
the raw margin (path-dependent) at several depths, with and without sample weights,
on synthetic columns and on the real encoder output of simulated proposals with
missing values; LinearExplainer on the logistic model's coefficients.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from model.calibration import Platt
from model.config import Config
from model.config_model import MAX_TREE_DEPTH
from model.estimators import CandidateSpec, MarginModel
from model.features import FeatureEncoder
from model.selection import prepare
from model.simulate import SimulationParams, simulate_history
from model.sklearn_trees import compile_hist_gradient_boosting
from model.treeshap import TreeTables, tree_margin_and_shap
from model.validation import validate_frame

EXACT = 1e-9  # log-odds: the bar every training must clear (model/shap_check.py)


def _deepest_path(tables: TreeTables) -> int:
    """The most split conditions on any leaf's path: the depth the trees reached."""
    per_slot = np.diff(np.append(tables.slot_start, tables.cond_feature.size))
    return int(np.add.reduceat(per_slot, tables.leaf_slot_start).max())


def _synthetic(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 3] = X[:, 3] > 0
    X[:, 5] = rng.integers(0, 4, size=n)  # few distinct values: many tied thresholds
    y = (X[:, 0] + X[:, 1] * X[:, 3] - 0.5 * X[:, 2] + rng.normal(size=n) > 0.8).astype(int)
    return X, y


def _fit_trees(depth: int, X: np.ndarray, y: np.ndarray,
               weights: np.ndarray | None = None) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(
        max_iter=30, max_depth=depth, max_leaf_nodes=None, min_samples_leaf=5,
        monotonic_cst=[1, 0, -1, 0, 0, 0], early_stopping=False, random_state=0)
    return model.fit(X, y, sample_weight=weights)


def _tree_explainer(model: HistGradientBoostingClassifier) -> shap.TreeExplainer:
    return shap.TreeExplainer(model, model_output="raw", feature_perturbation="tree_path_dependent")


def _assert_trees_match_shap(model: HistGradientBoostingClassifier, X: np.ndarray) -> None:
    tables = compile_hist_gradient_boosting(model)
    margin, ours = tree_margin_and_shap(tables, X, chunk=64)
    explainer = _tree_explainer(model)
    theirs = np.asarray(explainer.shap_values(X))
    assert theirs.shape == ours.shape
    assert np.abs(ours - theirs).max() <= EXACT
    assert abs(tables.base_margin - float(np.ravel(explainer.expected_value)[0])) <= EXACT
    assert np.abs(margin - model.decision_function(X)).max() <= EXACT


@pytest.fixture(scope="module")
def synthetic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = _synthetic(3, 400)
    test, _ = _synthetic(4, 300)
    return X, y, test


@pytest.mark.parametrize("depth", [1, 3, 6, MAX_TREE_DEPTH])
def test_trees_equal_shap_at_every_depth_up_to_the_configuration_cap(synthetic: tuple,
                                                                     depth: int) -> None:
    X, y, test = synthetic
    model = _fit_trees(depth, X, y)
    assert _deepest_path(compile_hist_gradient_boosting(model)) == depth
    _assert_trees_match_shap(model, test)


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_trees_fitted_with_sample_weights_equal_shap(synthetic: tuple, depth: int) -> None:
    X, y, test = synthetic
    weights = 1.0 / np.clip(np.random.default_rng(5).uniform(size=len(y)), 0.2, 1.0)
    weighted = _fit_trees(depth, X, y, weights)
    assert not np.allclose(weighted.decision_function(test), _fit_trees(depth, X, y).decision_function(test))
    _assert_trees_match_shap(weighted, test)


@pytest.fixture(scope="module")
def encoded(config: Config) -> tuple[FeatureEncoder, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """The real encoder on simulated, validated proposals with missing values and weights."""
    history, _ = simulate_history(SimulationParams(periods=6, per_period=100, seed=11))
    rng = np.random.default_rng(11)
    history["acceptance_propensity"] = np.round(rng.uniform(0.1, 1.0, len(history)), 3)
    raw = history.astype(object).where(history.notna(), "").astype(str)
    proposals = validate_frame(raw, config, labelled=True)
    data = prepare(proposals, dataclasses.replace(config, model=dataclasses.replace(
        config.model, propensity_weights="fit")))  # weights that reach the fits
    encoder = FeatureEncoder(config.features, rare_level_min_count=config.model.rare_level_min_count)
    X = encoder.fit(data.proposals).transform(data.proposals)
    return encoder, X, data.y, data.weights, data.proposals


def test_the_simulated_proposals_exercise_missing_values_and_weights(encoded: tuple) -> None:
    encoder, X, _, weights, proposals = encoded
    missing = [c for c in encoder.columns_ if c.endswith("__missing")]
    assert proposals["partner_headcount"].isna().any() and len(missing) >= 5
    assert X[:, [encoder.columns_.index(c) for c in missing]].sum(axis=0).min() > 0
    assert np.isfinite(X).all() and weights.std() > 0


@pytest.mark.parametrize("params", ["configured", {"max_depth": 6, "max_iter": 60}])
def test_trees_on_encoded_proposals_equal_shap(encoded: tuple, config: Config,
                                               params: str | dict) -> None:
    encoder, X, y, weights, _ = encoded
    candidates = ([dict(p) for p in config.model.boosted_trees] if params == "configured"
                  else [{"learning_rate": 0.1, "min_samples_leaf": 10, **params}])  # type: ignore[dict-item]
    for candidate in candidates:
        fitted = MarginModel(CandidateSpec("boosted_trees", candidate), seed=0).fit(
            X, y, weights, encoder.monotone_)
        exported = fitted.to_scoring_model(encoder, X, Platt(1.0, 0.0))
        margin, base, ours = exported.column_contributions(X)
        explainer = _tree_explainer(fitted.estimator_)
        assert np.abs(ours - np.asarray(explainer.shap_values(X))).max() <= EXACT
        assert abs(base - float(np.ravel(explainer.expected_value)[0])) <= EXACT
        assert np.abs(margin - fitted.margin(X)).max() <= EXACT


def test_the_linear_model_equals_shap_linear_explainer(encoded: tuple) -> None:
    encoder, X, y, weights, _ = encoded
    fitted = MarginModel(CandidateSpec("logistic", {"C": 0.3}), seed=0).fit(
        X, y, weights, encoder.monotone_)
    exported = fitted.to_scoring_model(encoder, X, Platt(1.0, 0.0))
    margin, base, ours = exported.column_contributions(X)
    explainer = shap.LinearExplainer((fitted.coef_, fitted.intercept_), (X.mean(axis=0), None))
    assert np.abs(ours - np.asarray(explainer.shap_values(X))).max() <= EXACT
    assert abs(base - float(explainer.expected_value)) <= EXACT
    assert np.abs(margin - fitted.margin(X)).max() <= EXACT
    assert np.count_nonzero(fitted.coef_) > 5


def test_additivity_and_round_trip(synthetic: tuple) -> None:
    X, y, test = synthetic
    tables = compile_hist_gradient_boosting(_fit_trees(4, X, y))
    restored = TreeTables.from_arrays(tables.to_arrays())
    margin, values = tree_margin_and_shap(restored, test)
    np.testing.assert_allclose(restored.base_margin + values.sum(axis=1), margin, atol=1e-10)
    assert dataclasses.asdict(restored).keys() == dataclasses.asdict(tables).keys()

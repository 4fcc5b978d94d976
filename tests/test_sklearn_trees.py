"""The adapter to scikit-learn's private tree attributes: correct today, loud when they change."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from model.sklearn_trees import (
    NODE_FIELDS,
    TreeLayoutChanged,
    compile_hist_gradient_boosting,
    read_trees,
    sklearn_version,
)
from model.treeshap import tree_margin_and_shap


@pytest.fixture(scope="module")
def fitted() -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=300) > 0).astype(int)
    return HistGradientBoostingClassifier(max_iter=15, max_depth=3, random_state=0).fit(X, y), X


def _with_nodes(model: HistGradientBoostingClassifier, nodes: np.ndarray) -> Any:
    """A stand-in estimator whose first tree has the given node records."""
    first = SimpleNamespace(nodes=nodes)
    return SimpleNamespace(_predictors=[[first], *model._predictors[1:]],
                           _baseline_prediction=model._baseline_prediction)


def test_the_installed_scikit_learn_stores_trees_as_read(
        fitted: tuple[HistGradientBoostingClassifier, np.ndarray]) -> None:
    """Fails with TreeLayoutChanged (naming the attribute and version) if a release moves them."""
    model, X = fitted
    trees, baseline = read_trees(model)
    assert len(trees) == model.n_iter_
    assert baseline == pytest.approx(float(np.ravel(model._baseline_prediction)[0]))
    root = trees[0]
    assert root.count[0] == len(X) and not root.is_leaf[0]
    leaves = np.flatnonzero(root.is_leaf)
    assert root.count[leaves].sum() == len(X)
    tables = compile_hist_gradient_boosting(model)
    np.testing.assert_allclose(tree_margin_and_shap(tables, X)[0], model.decision_function(X),
                               atol=1e-10)


def test_a_missing_attribute_is_named_with_the_version(
        fitted: tuple[HistGradientBoostingClassifier, np.ndarray]) -> None:
    model, _ = fitted
    with pytest.raises(TreeLayoutChanged) as error:
        read_trees(SimpleNamespace(_baseline_prediction=model._baseline_prediction))
    assert "_predictors" in str(error.value) and f"scikit-learn {sklearn_version()}" in str(error.value)
    moved = SimpleNamespace(_predictors=model._predictors)
    with pytest.raises(TreeLayoutChanged, match=r"_baseline_prediction no longer exists"):
        read_trees(moved)
    with pytest.raises(TreeLayoutChanged, match=r"_predictors\[0\]\[0\]\.nodes no longer exists"):
        read_trees(SimpleNamespace(_predictors=[[object()]],
                                   _baseline_prediction=model._baseline_prediction))


@pytest.mark.parametrize("field", sorted(NODE_FIELDS))
def test_a_renamed_node_field_is_named_with_the_version(
        fitted: tuple[HistGradientBoostingClassifier, np.ndarray], field: str) -> None:
    model, _ = fitted
    nodes = model._predictors[0][0].nodes
    renamed = nodes.copy().view(np.dtype([(("renamed" if n == field else n), nodes.dtype[n])
                                          for n in nodes.dtype.names]))
    with pytest.raises(TreeLayoutChanged) as error:
        read_trees(_with_nodes(model, renamed))
    message = str(error.value)
    assert f"nodes['{field}'] no longer exists" in message and sklearn_version() in message


def test_a_retyped_field_and_a_changed_meaning_are_refused(
        fitted: tuple[HistGradientBoostingClassifier, np.ndarray]) -> None:
    model, _ = fitted
    nodes = model._predictors[0][0].nodes
    as_text = np.dtype([(n, "U8" if n == "num_threshold" else nodes.dtype[n]) for n in nodes.dtype.names])
    with pytest.raises(TreeLayoutChanged, match=r"nodes\['num_threshold'\] has type"):
        read_trees(_with_nodes(model, nodes.astype(as_text)))
    weighted = nodes.copy()
    weighted["count"][0] += 1  # children no longer add up to their parent
    with pytest.raises(TreeLayoutChanged, match=r"nodes\['count'\] no longer counts"):
        read_trees(_with_nodes(model, weighted))


def test_a_multi_score_layout_and_baseline_are_refused(
        fitted: tuple[HistGradientBoostingClassifier, np.ndarray]) -> None:
    model, _ = fitted
    two = SimpleNamespace(_predictors=[list(model._predictors[0]) * 2],
                          _baseline_prediction=model._baseline_prediction)
    with pytest.raises(TreeLayoutChanged, match=r"_predictors\[0\] holds 2 trees"):
        read_trees(two)
    wide = SimpleNamespace(_predictors=model._predictors, _baseline_prediction=np.zeros((1, 3)))
    with pytest.raises(TreeLayoutChanged, match=r"_baseline_prediction has shape \(1, 3\)"):
        read_trees(wide)


def test_native_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.integers(0, 5, 400), rng.normal(size=400)])
    y = (np.isin(X[:, 0], [1, 3]) ^ (rng.uniform(size=400) < 0.1)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0],
                                           random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="categorical"):
        compile_hist_gradient_boosting(model)


def test_unit_weights_passed_as_none_fit_the_same_trees() -> None:
    """Trees skip their unit weights (binning is then much faster): same margins, bit for bit,
    and weights that are not all 1 still reach scikit-learn."""
    from model.estimators import CandidateSpec, MarginModel

    rng = np.random.default_rng(3)
    n = 2000
    X = np.c_[rng.integers(0, 2, (n, 6)).astype(float), rng.lognormal(size=(n, 2)) * 1000]
    X[rng.random(n) < 0.1, 7] = np.nan
    y = (X[:, 0] + np.log1p(np.nan_to_num(X[:, 6])) / 4 + rng.normal(size=n) > 2).astype(int)
    params = {"learning_rate": 0.1, "max_iter": 30, "max_depth": 3, "min_samples_leaf": 20}
    spec, monotone = CandidateSpec("boosted_trees", params), np.zeros(X.shape[1], dtype=int)
    for weights in (np.ones(n), rng.uniform(0.5, 2.0, n)):
        ours = MarginModel(spec, seed=0).fit(X, y, weights, monotone).estimator_
        direct = HistGradientBoostingClassifier(
            **params, monotonic_cst=monotone.tolist(), early_stopping=False,
            categorical_features=None, random_state=0).fit(X, y, sample_weight=weights)
        np.testing.assert_array_equal(ours.decision_function(X), direct.decision_function(X))

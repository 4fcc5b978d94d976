"""Our TreeSHAP tables give shap's TreeExplainer values, exactly, without importing shap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from model.treeshap import TreeTables, compile_hist_gradient_boosting, tree_margin_and_shap


@pytest.fixture(scope="module")
def fitted() -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    X[:, 3] = X[:, 3] > 0
    y = (X[:, 0] + X[:, 1] * X[:, 3] - 0.5 * X[:, 2] + rng.normal(size=400) > 0.8).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, max_depth=4, min_samples_leaf=10,
                                           monotonic_cst=[1, 0, -1, 0, 0, 0],
                                           random_state=0).fit(X, y)
    test = rng.normal(size=(300, 6))
    test[:, 3] = test[:, 3] > 0
    return model, test


def test_margins_equal_the_estimator(fitted: tuple) -> None:
    model, X = fitted
    margin, _ = tree_margin_and_shap(compile_hist_gradient_boosting(model), X)
    np.testing.assert_allclose(margin, model.decision_function(X), atol=1e-10)


def test_values_equal_shap_tree_explainer(fitted: tuple) -> None:
    import shap
    model, X = fitted
    tables = compile_hist_gradient_boosting(model)
    _, ours = tree_margin_and_shap(tables, X, chunk=64)
    explainer = shap.TreeExplainer(model)
    np.testing.assert_allclose(ours, np.asarray(explainer.shap_values(X)), atol=1e-10)
    assert tables.base_margin == pytest.approx(float(np.ravel(explainer.expected_value)[0]))


def test_additivity_and_round_trip(fitted: tuple) -> None:
    model, X = fitted
    tables = TreeTables.from_arrays(compile_hist_gradient_boosting(model).to_arrays())
    margin, values = tree_margin_and_shap(tables, X)
    np.testing.assert_allclose(tables.base_margin + values.sum(axis=1), margin, atol=1e-10)

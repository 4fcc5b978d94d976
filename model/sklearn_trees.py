"""The one module that reads scikit-learn's private tree attributes.

A fitted HistGradientBoostingClassifier offers no public view of its trees, so
compiling them to TreeSHAP tables reads what shap's TreeExplainer also reads:

- `_predictors`: per boosting iteration, one predictor per class score (one for a
  binary classifier);
- each predictor's `nodes`: a record array with, per node, `value`, `count`,
  `feature_idx`, `num_threshold`, `left`, `right`, `is_leaf` and `is_categorical`;
- `_baseline_prediction`: the constant raw score every tree adds to.

Nothing else in partnerscore touches them. When a scikit-learn release renames,
retypes or reshapes any of them, `TreeLayoutChanged` names the attribute and the
installed scikit-learn version, and training stops before an explanation can be wrong.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np

from model.treeshap import Tree, TreeTables, compile_trees

# The node fields read, with the numpy dtype kinds accepted for each
# (f: float, u/i: integer, b: boolean).
NODE_FIELDS: dict[str, str] = {
    "value": "f", "count": "ui", "feature_idx": "ui", "num_threshold": "f",
    "left": "ui", "right": "ui", "is_leaf": "uib", "is_categorical": "uib",
}


class TreeLayoutChanged(RuntimeError):
    """The installed scikit-learn stores fitted trees differently from what is read here."""


def sklearn_version() -> str:
    """The installed scikit-learn version, for error messages."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return "unknown"


def _changed(attribute: str, found: str) -> TreeLayoutChanged:
    return TreeLayoutChanged(
        f"scikit-learn {sklearn_version()}: HistGradientBoostingClassifier {attribute} {found}; "
        "partnerscore reads it to compile the trees' explanations (model/sklearn_trees.py) and "
        "was written for scikit-learn 1.9. Install a scikit-learn version this partnerscore "
        "supports, or update model/sklearn_trees.py.")


def _attribute(owner: Any, name: str, where: str) -> Any:
    if not hasattr(owner, name):
        raise _changed(f"{where}{name}", "no longer exists")
    return getattr(owner, name)


def _nodes(predictor: Any, iteration: int) -> np.ndarray:
    """A predictor's node records, checked field by field."""
    nodes = _attribute(predictor, "nodes", f"_predictors[{iteration}][0].")
    names = getattr(getattr(nodes, "dtype", None), "names", None) or ()
    for field, kinds in NODE_FIELDS.items():
        if field not in names:
            raise _changed(f"_predictors[{iteration}][0].nodes['{field}']",
                           f"no longer exists (fields found: {', '.join(names) or 'none'})")
        if nodes.dtype[field].kind not in kinds:
            raise _changed(f"_predictors[{iteration}][0].nodes['{field}']",
                           f"has type {nodes.dtype[field]} (expected kind {kinds!r})")
    return np.asarray(nodes)


def _check_counts(tree: Tree, iteration: int) -> None:
    """Children partition their parent's rows: the cover the explanations rely on."""
    inner = np.flatnonzero(~tree.is_leaf)
    children = np.concatenate([tree.left[inner], tree.right[inner]])
    if children.size and (children.min() <= 0 or children.max() >= tree.count.size):
        raise _changed(f"_predictors[{iteration}][0].nodes['left'/'right']",
                       "point outside the tree")
    if np.any(tree.count[tree.left[inner]] + tree.count[tree.right[inner]] != tree.count[inner]):
        raise _changed(f"_predictors[{iteration}][0].nodes['count']",
                       "no longer counts the training rows of each node (children do not add up)")


def _tree(nodes: np.ndarray) -> Tree:
    return Tree(value=nodes["value"].astype(float), count=nodes["count"].astype(np.int64),
                feature=nodes["feature_idx"].astype(np.int64),
                threshold=nodes["num_threshold"].astype(float),
                left=nodes["left"].astype(np.int64), right=nodes["right"].astype(np.int64),
                is_leaf=nodes["is_leaf"].astype(bool))


def read_trees(estimator: Any) -> tuple[list[Tree], float]:
    """The fitted trees of a binary HistGradientBoostingClassifier and its constant term.

    Raises:
        TreeLayoutChanged: when scikit-learn's private attributes are not as expected.
        ValueError: for a model this product never fits (native categorical splits).
    """
    trees = []
    for i, iteration in enumerate(_attribute(estimator, "_predictors", "")):
        if len(iteration) != 1:
            raise _changed(f"_predictors[{i}]", f"holds {len(iteration)} trees (expected 1 "
                           "for a binary classifier)")
        nodes = _nodes(iteration[0], i)
        if np.any(nodes["is_categorical"]):
            raise ValueError("native categorical splits are not supported; one-hot encode")
        trees.append(_tree(nodes))
        _check_counts(trees[-1], i)
    baseline = np.asarray(_attribute(estimator, "_baseline_prediction", ""), dtype=float)
    if baseline.size != 1:
        raise _changed("_baseline_prediction", f"has shape {baseline.shape} (expected one value)")
    return trees, float(baseline.ravel()[0])


def compile_hist_gradient_boosting(estimator: Any) -> TreeTables:
    """Compile a fitted binary HistGradientBoostingClassifier (numeric splits only)."""
    trees, baseline = read_trees(estimator)
    return compile_trees(trees, baseline)

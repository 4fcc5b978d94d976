"""shap's own explainers as the reference for every exported model's explanations.

Scoring explains with our own compiled tables (`model/treeshap.py`) or linear
shares (`model/scorer.py`), without importing shap. At each training, shap explains
the training rows from the fitted estimator itself:

- logistic and bayes_logistic: `shap.LinearExplainer` on the coefficients, with the
  row the exported model explains against as background (the mean training row, or the
  bayes prior's centre: the weighted mean);
- boosted trees: `shap.TreeExplainer` on the raw margin, path-dependent (the
  training rows' covers), as the compiled tables are.

The exported model must give the same contributions, base value and margins to
within `TOLERANCE` log-odds, or `ExplanationMismatch` stops the training before
anything is registered. The values, summed from encoded columns to the configured
features, then make the model's global views: a compact `ShapSummary` kept in the
training record (importance, and a bounded sample of rows for a beeswarm), and the
full table of the training rows logged with the run (`contributions_table`).

shap (and scikit-learn) are imported only when a check runs: the model report reads
`ShapSummary` from here without loading either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.config import Column
from model.errors import ExplanationMismatch
from model.explain import Explanation, global_importance
from model.pairs import with_cells
from model.scorer import ScoringModel

if TYPE_CHECKING:
    from model.estimators import MarginModel
    from model.training import TrainingResult

TOLERANCE = 1e-9  # log-odds; both sides are exact, so only rounding may differ
SAMPLE_ROWS = 200  # training rows kept for the beeswarm: enough to show a spread
DIGITS = 3  # decimals kept for sampled contributions and shades: finer than a pixel


@dataclass(frozen=True)
class ShapValues:
    """shap's explanation of rows, in the raw margin's log-odds (before calibration)."""

    explainer: str  # the shap explainer's class name
    base_value: float
    values: np.ndarray  # (n, p): one column per encoded column
    margin: np.ndarray  # (n,): the fitted estimator's own margins


def shap_values(estimator: MarginModel, X: np.ndarray) -> ShapValues:
    """shap's values for the encoded rows X, from the fitted estimator (imports shap)."""
    import shap

    if estimator.is_linear:
        # A (mean, covariance) background: shap subsamples a data background to 100 rows,
        # and only the mean matters for an interventional linear explanation. The mean
        # is the row the exported model explains against (the bayes prior's centre).
        explainer: Any = shap.LinearExplainer((estimator.coef_, estimator.intercept_),
                                              (estimator.reference_, None))
    else:
        explainer = shap.TreeExplainer(estimator.estimator_, model_output="raw",
                                       feature_perturbation="tree_path_dependent")
    # Trees fit on the configured features only (`model.estimators`): the pair columns
    # after them get no share, as in the exported model. Linear models carry a (zero, for
    # the plain logistic) weight for every column.
    width = X.shape[1] if estimator.is_linear else estimator.width_
    values = np.zeros(X.shape)
    values[:, :width] = np.asarray(explainer.shap_values(X[:, :width]),
                                   dtype=float).reshape(len(X), width)
    base = float(np.ravel(explainer.expected_value)[0])
    return ShapValues(type(explainer).__name__, base, values, estimator.margin(X))


def _worst(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """The largest absolute difference (nan counts as infinite) and where it is."""
    difference = np.nan_to_num(np.abs(ours - theirs), nan=np.inf)
    if not difference.size:
        return 0.0, ()
    position = np.unravel_index(int(np.argmax(difference)), difference.shape)
    return float(difference[position]), tuple(int(i) for i in position)


def _differences(model: ScoringModel, reference: ShapValues, X: np.ndarray,
                 tolerance: float) -> tuple[float, list[str]]:
    margin, base, shares = model.column_contributions(X)
    if shares.shape != reference.values.shape or margin.shape != reference.margin.shape:
        return float("inf"), [f"contributions of shape {shares.shape}, not {reference.values.shape}"]
    found = []
    worst, (row, column) = _worst(shares, reference.values) if shares.size else (0.0, (0, 0))
    if worst > tolerance:
        found.append(f"contributions by {worst:.3g} (training row {row + 1}, column "
                     f"{model.encoder.columns_[column]!r})")
    base_gap = float(np.nan_to_num(abs(base - reference.base_value), nan=np.inf))
    if base_gap > tolerance:
        found.append(f"base value by {base_gap:.3g}")
    margin_gap, _ = _worst(margin, reference.margin)
    if margin_gap > tolerance:
        found.append(f"margins by {margin_gap:.3g}")
    return max(worst, base_gap, margin_gap), found


def check_explanations(model: ScoringModel, reference: ShapValues, X: np.ndarray,
                       tolerance: float = TOLERANCE) -> float:
    """The largest difference between the exported model's explanations and shap's.

    Raises:
        ExplanationMismatch: when contributions, base value or margins differ by more
            than `tolerance` log-odds.
    """
    gap, found = _differences(model, reference, X, tolerance)
    if found:
        raise ExplanationMismatch(
            f"the exported model's explanations differ from shap's {reference.explainer} on the "
            f"training rows: {'; '.join(found)} log-odds (tolerance {tolerance:g}). The model "
            "was not registered: its reasons would not be the ones shap gives.")
    return gap


def by_feature(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Sum encoded-column values (n, p) into their configured features (n, F)."""
    if not values.size:
        return values
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.add.reduceat(values, starts, axis=1)


def value_shade(column: Column, values: pd.Series) -> np.ndarray:
    """Each proposal's value as 0 (lowest among `values`) to 1 (highest); nan for categories."""
    if column.type == "ordinal":
        position = {v: float(i) for i, v in enumerate(column.values)}
        numbers = pd.Series([position.get(v, np.nan) for v in values], dtype=float)
    elif column.is_numeric or column.type == "boolean":
        numbers = pd.to_numeric(values, errors="coerce").astype(float).reset_index(drop=True)
    else:
        return np.full(len(values), np.nan)
    ranks = numbers.rank(method="average")
    low, high = ranks.min(), ranks.max()
    if not np.isfinite(low) or high == low:
        return np.where(numbers.notna(), 0.5, np.nan)
    return ((ranks - low) / (high - low)).to_numpy(dtype=float)


def _rounded(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), DIGITS) for v in values]


@dataclass(frozen=True)
class ShapSummary:
    """What the model report needs from shap's explanation of the training rows.

    In calibrated log-odds (shap's raw values times the calibration slope), the unit of
    every explanation partnerscore shows: importance rows as `global_importance` gives
    them (most important first), and a bounded sample of training rows per feature.
    """

    explainer: str
    rows: int
    base_logit: float
    max_difference: float  # the check's largest gap to shap, raw log-odds
    importance: list[dict[str, Any]]
    sample: dict[str, list[float | None]]  # feature -> contributions of the sampled rows
    shade: dict[str, list[float | None]]  # feature -> the sampled rows' values, 0-1

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping, as stored in the training record under `shap`."""
        return {"explainer": self.explainer, "unit": "calibrated log-odds", "rows": self.rows,
                "base_logit": self.base_logit, "max_difference": self.max_difference,
                "importance": self.importance, "sample": self.sample, "shade": self.shade}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShapSummary:
        """Read what `to_json` wrote."""
        return cls(explainer=str(data["explainer"]), rows=int(data["rows"]),
                   base_logit=float(data["base_logit"]),
                   max_difference=float(data["max_difference"]),
                   importance=[dict(r) for r in data["importance"]],
                   sample={str(k): list(v) for k, v in data["sample"].items()},
                   shade={str(k): list(v) for k, v in data["shade"].items()})


@dataclass(frozen=True)
class TrainingShap:
    """shap's checked explanation of the training rows of one training run."""

    reference: ShapValues
    features: tuple[str, ...]
    contributions: np.ndarray  # (n, F): shap values summed per feature, raw log-odds
    summary: ShapSummary


def summarise(model: ScoringModel, reference: ShapValues, contributions: np.ndarray,
              proposals: pd.DataFrame, max_difference: float, *, seed: int = 0) -> ShapSummary:
    """Importance and a bounded, seeded sample of rows, in calibrated log-odds."""
    columns = model.encoder.described
    features = model.encoder.feature_names
    slope = model.calibration.slope
    explanation = Explanation(features, float(model.calibration.logit(
        np.array([reference.base_value]))[0]), model.calibration.logit(reference.margin),
        contributions * slope)
    importance = global_importance(explanation, model.encoder.directions(proposals))
    n = len(proposals)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n, SAMPLE_ROWS), replace=False))
    sampled = with_cells(proposals.iloc[rows], features, columns)
    return ShapSummary(
        explainer=reference.explainer, rows=n, base_logit=explanation.base_logit,
        max_difference=max_difference, importance=importance,
        sample={f: _rounded(explanation.contributions[rows, j]) for j, f in enumerate(features)},
        shade={f: _rounded(value_shade(columns[f], sampled[f] if f in sampled else
                                       pd.Series([None] * len(rows), dtype=object)))
               for f in features})


def verify_training_explanations(model: ScoringModel, estimator: MarginModel,
                                 proposals: pd.DataFrame, *, seed: int = 0) -> TrainingShap:
    """Explain the training rows with shap, check the exported model against it, summarise.

    Args:
        model: the exported scoring model.
        estimator: the fitted estimator `model` was exported from.
        proposals: the training proposals, in the order the model was fitted on.
        seed: seeds the sample of rows kept for the beeswarm.

    Raises:
        ExplanationMismatch: when the exported model's explanations are not shap's.
    """
    X = model.encoder.transform(proposals)
    reference = shap_values(estimator, X)
    gap = check_explanations(model, reference, X)
    contributions = by_feature(reference.values, model.encoder.groups_)
    return TrainingShap(reference, model.encoder.feature_names, contributions,
                        summarise(model, reference, contributions, proposals, gap, seed=seed))


def verify_training(result: TrainingResult, proposals: pd.DataFrame) -> TrainingShap:
    """`verify_training_explanations` for a training run on `proposals` (its rows, its seed).

    Raises:
        ExplanationMismatch: when the exported model's explanations are not shap's.
    """
    if result.estimator is None:
        raise ExplanationMismatch("the training result holds no fitted estimator to explain "
                                  "with shap; the model was not registered")
    return verify_training_explanations(result.model, result.estimator,
                                        proposals.reset_index(drop=True), seed=result.seed)


def contributions_table(explained: TrainingShap, ids: Sequence[Any]) -> pd.DataFrame:
    """One row per training proposal: its id, shap's value per feature, base value, margin.

    Values are shap's, in the raw margin's log-odds: `base_value` plus the feature
    columns gives `margin`; the calibrated log-odds the reports show are
    `slope * margin + offset` of the model's calibration.
    """
    table = pd.DataFrame(explained.contributions, columns=list(explained.features))
    table.insert(0, "proposal_id", list(ids))
    table["base_value"] = explained.reference.base_value
    table["margin"] = explained.reference.margin
    return table

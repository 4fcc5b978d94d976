"""Exact explanations in the proposal's own fields.

Contributions are in calibrated log-odds, one per configured feature (one-hot and
missing-indicator columns are summed back into the field they came from), so that
`base_logit + contributions.sum() == logit` holds exactly. For people they are also
given in probability points: each log-odds contribution times the secant slope
(p - p_base) / (logit - base_logit), which keeps every sign and sums exactly to
`p - p_base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from model.calibration import sigmoid
from model.config import Column
from model.pairs import with_cells
from model.scorer import ScoringModel
from model.wording import describe_values


class Reason(TypedDict):
    """One feature's exact contribution to one proposal's score."""

    feature: str
    label: str  # the sentence shown to people ("Has an action plan")
    value: Any  # the proposal's own value, as shown
    logit: float  # contribution in calibrated log-odds
    points: float  # contribution in probability points (0-1 scale)


@dataclass(frozen=True)
class Explanation:
    """Scores and per-feature contributions for a batch of proposals."""

    features: tuple[str, ...]
    base_logit: float
    logit: np.ndarray  # (n,)
    contributions: np.ndarray  # (n, F) calibrated log-odds

    @property
    def base_probability(self) -> float:
        """The model's probability for an average training proposal."""
        return float(sigmoid(self.base_logit))

    @property
    def probability(self) -> np.ndarray:
        """Calibrated impact probabilities."""
        return sigmoid(self.logit)

    @property
    def points(self) -> np.ndarray:
        """Contributions in probability points; each row sums to p - base_probability."""
        delta = self.logit - self.base_logit
        p0 = self.base_probability
        tiny = np.abs(delta) < 1e-9
        slope = np.where(tiny, p0 * (1 - p0),
                         (self.probability - p0) / np.where(tiny, 1.0, delta))
        return self.contributions * slope[:, None]


def explain(model: ScoringModel, proposals: pd.DataFrame) -> Explanation:
    """Exact per-feature contributions in calibrated log-odds for validated proposals."""
    X = model.encoder.transform(proposals)
    margin, base_margin, shares = model.column_contributions(X)
    slope = model.calibration.slope
    groups = model.encoder.groups_
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    by_feature = np.add.reduceat(shares, starts, axis=1) * slope if shares.size else shares
    return Explanation(
        features=model.encoder.feature_names,
        base_logit=float(model.calibration.logit(np.array([base_margin]))[0]),
        logit=model.calibration.logit(margin),
        contributions=by_feature,
    )


def reasons(explanation: Explanation, proposals: pd.DataFrame, columns: dict[str, Column],
            top: int) -> list[tuple[list[Reason], list[Reason], list[Reason]]]:
    """For each proposal: every feature's contribution, its top reasons for and its top against.

    `columns` holds every feature's column, a pair's stand-in included
    (`FeatureEncoder.described`); a pair's value is the proposal's cell.
    """
    features = explanation.features
    proposals = with_cells(proposals, features, columns)
    described = [describe_values(columns[name], _values(proposals, name)) for name in features]
    labels = list(zip(*(d[0] for d in described), strict=True))
    shown = list(zip(*(d[1] for d in described), strict=True))
    logits = explanation.contributions.tolist()
    points = explanation.points.tolist()
    order = np.argsort(-np.abs(explanation.contributions), axis=1, kind="stable").tolist()
    out = []
    for i in range(len(proposals)):
        items = [Reason(feature=f, label=label, value=value, logit=g, points=q)
                 for f, label, value, g, q in zip(features, labels[i], shown[i], logits[i],
                                                  points[i], strict=True)]
        ranked = [items[j] for j in order[i]]
        upward = [item for item in ranked if item["logit"] > 1e-12][:top]
        downward = [item for item in ranked if item["logit"] < -1e-12][:top]
        out.append((items, upward, downward))
    return out


def _values(proposals: pd.DataFrame, name: str) -> list[Any]:
    return proposals[name].tolist() if name in proposals else [None] * len(proposals)


def global_importance(explanation: Explanation, encoded: dict[str, np.ndarray]
                      ) -> list[dict[str, Any]]:
    """Mean absolute contribution per feature, with the direction of its effect.

    `encoded` maps a numeric or boolean feature to its values; the direction is the
    sign of the correlation between value and contribution ("higher raises").
    """
    rows = []
    for j, name in enumerate(explanation.features):
        contribution = explanation.contributions[:, j]
        direction = "depends on the category"
        values = encoded.get(name)
        if values is not None:
            ok = np.isfinite(values)
            spread = ok.sum() > 2 and np.std(values[ok]) > 0 and np.std(contribution[ok]) > 0
            corr = float(np.corrcoef(values[ok], contribution[ok])[0, 1]) if spread else 0.0
            direction = ("higher raises" if corr > 0.05 else
                         "higher lowers" if corr < -0.05 else "mixed or none")
        rows.append({"feature": name, "mean_abs_logit": float(np.abs(contribution).mean()),
                     "mean_logit": float(contribution.mean()), "direction": direction})
    return sorted(rows, key=lambda r: -r["mean_abs_logit"])

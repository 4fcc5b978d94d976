"""Candidate estimators: built unfitted from a spec, fitted on encoded proposals.

Two families: an L2-regularised logistic regression on standardised columns (0/1
columns on a common scale, so rare category levels are shrunk like common ones), and
gradient-boosted trees (HistGradientBoostingClassifier on one-hot input, monotone
where the configuration declares it). Both expose the raw margin in log-odds and
convert to the numpy-only `ScoringModel` once calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from model.calibration import Platt
from model.features import FeatureEncoder
from model.scorer import LINEAR, TREES, ScoringModel
from model.treeshap import compile_hist_gradient_boosting

BINARY_SCALE = 0.5  # the standard deviation of a balanced 0/1 column


@dataclass(frozen=True)
class CandidateSpec:
    """One candidate: its family and hyper-parameters."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A readable, stable identifier such as `logistic(C=0.1)`."""
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})"

    @property
    def regularisation_rank(self) -> float:
        """Lower is more regularised (used to pick the safest candidate on little data)."""
        if self.kind == LINEAR:
            return float(self.params["C"])
        return 1e6 + float(self.params.get("max_iter", 100))


class MarginModel:
    """A fitted candidate: raw log-odds margins, and export to a ScoringModel."""

    def __init__(self, spec: CandidateSpec, *, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray,
            monotone: np.ndarray) -> MarginModel:
        """Fit on encoded columns; returns self."""
        if self.spec.kind == LINEAR:
            self._fit_linear(X, y, sample_weight, monotone)
        elif self.spec.kind == TREES:
            self.estimator_ = HistGradientBoostingClassifier(
                **self.spec.params, monotonic_cst=monotone.tolist(), early_stopping=False,
                categorical_features=None, random_state=self.seed,
            ).fit(X, y, sample_weight=sample_weight)
        else:
            raise ValueError(f"unknown candidate kind {self.spec.kind!r}")
        return self

    def _fit_linear(self, X: np.ndarray, y: np.ndarray, w: np.ndarray,
                    monotone: np.ndarray) -> None:
        # Standardise so one C regularises every column alike, then fold the scaling
        # back into the coefficients. Columns whose sign contradicts a declared
        # monotone direction are dropped and the model refitted.
        mean = np.average(X, axis=0, weights=w)
        scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w))
        # 0/1 columns (category levels, booleans, missing flags) are scaled as if
        # balanced: their own, smaller deviation would shrink a rare level's effect
        # less than a common one's, and on trial-sized data rare levels are mostly noise.
        scale[np.all((X == 0) | (X == 1), axis=0)] = BINARY_SCALE
        scale[scale < 1e-12] = 1.0
        active = np.ones(X.shape[1], dtype=bool)
        for _ in range(X.shape[1] + 1):
            lr = LogisticRegression(C=float(self.spec.params["C"]), max_iter=2000)
            lr.fit(((X - mean) / scale)[:, active], y, sample_weight=w)
            coef = np.zeros(X.shape[1])
            coef[active] = lr.coef_[0]
            wrong = (monotone != 0) & (np.sign(coef) == -monotone) & active
            if not wrong.any():
                break
            active &= ~wrong
        self.coef_ = coef / scale
        self.intercept_ = float(lr.intercept_[0] - (coef * mean / scale).sum())

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds margins."""
        if self.spec.kind == LINEAR:
            return X @ self.coef_ + self.intercept_
        return np.asarray(self.estimator_.decision_function(X), dtype=float)

    def to_scoring_model(self, encoder: FeatureEncoder, X_train: np.ndarray,
                         calibration: Platt) -> ScoringModel:
        """The exportable numpy-only model, explained against the training rows."""
        if self.spec.kind == LINEAR:
            return ScoringModel(encoder, LINEAR, calibration, coef=self.coef_.copy(),
                                intercept=self.intercept_, reference=X_train.mean(axis=0))
        return ScoringModel(encoder, TREES, calibration,
                            trees=compile_hist_gradient_boosting(self.estimator_))


def candidate_specs(candidates: tuple[str, ...], logistic_c: tuple[float, ...],
                    boosted_trees: tuple[dict[str, Any], ...]) -> list[CandidateSpec]:
    """Expand the configured families into concrete candidates."""
    specs: list[CandidateSpec] = []
    if LINEAR in candidates:
        specs += [CandidateSpec(LINEAR, {"C": float(c)}) for c in logistic_c]
    if TREES in candidates:
        specs += [CandidateSpec(TREES, dict(params)) for params in boosted_trees]
    return specs

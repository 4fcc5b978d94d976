"""Candidate estimators: built unfitted from a spec, fitted on encoded proposals.

Three families: a Bayesian logistic regression whose prior is the team's beliefs
(`model.bayes`), an L2-regularised logistic regression on standardised columns (0/1
columns on a common scale, so rare category levels are shrunk like common ones), and
gradient-boosted trees (HistGradientBoostingClassifier on one-hot input, monotone
where the configuration declares a direction). All expose the raw margin in log-odds
and convert to the numpy-only `ScoringModel` once calibrated; the two linear ones
carry the posterior covariance of their coefficients, from which every proposal gets
an interval.

Pair cells (`interactions:`) are learned by the bayes model alone, under its pooled
prior: the plain logistic regression has no such prior (one penalty for hundreds of
cells learns none of them) and trees find combinations by themselves. Those two fit on
the leading `main_width` columns, and their exported models give the pair columns a
zero weight (trees never split on them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from model.bayes import LEVEL, MODEL_ERROR_SD, BayesianLogistic, to_raw
from model.beliefs import Prior, effective_weights
from model.calibration import Platt, sigmoid
from model.features import FeatureEncoder
from model.scorer import BAYES, LINEAR, TREES, ScoringModel
from model.sklearn_trees import compile_hist_gradient_boosting

BINARY_SCALE = 0.5  # the standard deviation of a balanced 0/1 column
LINEAR_KINDS = (BAYES, LINEAR)


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
        if self.kind == BAYES:
            return -1.0  # the beliefs hold it where outcomes are few
        if self.kind == LINEAR:
            return float(self.params["C"])
        return 1e6 + float(self.params.get("max_iter", 100))


@dataclass(frozen=True)
class IntervalSettings:
    """The level of every probability interval and the model-error term it adds (log-odds)."""

    level: float = LEVEL
    model_error: float = MODEL_ERROR_SD


class MarginModel:
    """A fitted candidate: raw log-odds margins, and export to a ScoringModel.

    Linear kinds also hold `coef_`, `intercept_`, `covariance_` (posterior of the
    intercept and coefficients, raw units, intercept first) and `reference_` (the row
    their explanations are relative to); the bayes kind keeps its fit in `posterior_`.
    """

    def __init__(self, spec: CandidateSpec, *, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed

    @property
    def is_linear(self) -> bool:
        """True for the kinds whose margin is linear in the encoded columns."""
        return self.spec.kind in LINEAR_KINDS

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray,
            monotone: np.ndarray, prior: Prior | None = None,
            main_width: int | None = None) -> MarginModel:
        """Fit on encoded columns (the bayes kind needs the `prior` for them); returns self.

        Kinds other than bayes use only the first `main_width` columns (all by default):
        the configured features, without the pair cells.
        """
        self.width_ = X.shape[1] if main_width is None or self.spec.kind == BAYES else main_width
        if self.spec.kind == BAYES:
            if prior is None:
                raise ValueError("the bayes_logistic candidate needs a prior (model.beliefs)")
            self.posterior_ = BayesianLogistic(prior).fit(X, y, sample_weight)
            self.coef_, self.intercept_ = self.posterior_.coef_, self.posterior_.intercept_
            self.covariance_, self.reference_ = self.posterior_.covariance_, prior.center
        elif self.spec.kind == LINEAR:
            self._fit_linear(X[:, :self.width_], y, sample_weight, monotone[:self.width_])
            self._pad(X)
        elif self.spec.kind == TREES:
            # Unit weights are passed as none: the fit is the same, bit for bit, but
            # scikit-learn then bins each number with one percentile call instead of
            # one weighted percentile per bin (a third of the training time at 5,000 rows).
            unit = bool(np.all(sample_weight == 1.0))
            self.estimator_ = HistGradientBoostingClassifier(
                **self.spec.params, monotonic_cst=monotone[:self.width_].tolist(),
                early_stopping=False, categorical_features=None, random_state=self.seed,
            ).fit(X[:, :self.width_], y, sample_weight=None if unit else sample_weight)
        else:
            raise ValueError(f"unknown candidate kind {self.spec.kind!r}")
        return self

    def _pad(self, X: np.ndarray) -> None:
        """Give the columns left out of the fit a zero weight and no posterior spread."""
        extra = X.shape[1] - self.width_
        if extra == 0:
            return
        self.coef_ = np.r_[self.coef_, np.zeros(extra)]
        self.reference_ = np.r_[self.reference_, X[:, self.width_:].mean(axis=0)]
        covariance = np.zeros((X.shape[1] + 1, X.shape[1] + 1))
        covariance[:self.width_ + 1, :self.width_ + 1] = self.covariance_
        self.covariance_ = covariance

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
        self.reference_ = X.mean(axis=0)
        self.covariance_ = self._laplace_covariance(X, w, mean, scale, active)

    def _laplace_covariance(self, X: np.ndarray, w: np.ndarray, mean: np.ndarray,
                            scale: np.ndarray, active: np.ndarray) -> np.ndarray:
        """The penalised likelihood's inverse Hessian at the fit (its Laplace posterior).

        The L2 penalty is a N(0, C) prior on standardised coefficients; the intercept's is
        flat. Weights count as Kish's effective sample size, as in `model.bayes`; dropped
        columns are fixed at zero.
        """
        Z = np.column_stack([np.ones(len(X)), (X - mean) / scale])
        p = sigmoid(X @ self.coef_ + self.intercept_)
        keep = np.r_[True, active]
        Za = Z[:, keep]
        precision = np.r_[1e-9, np.full(int(active.sum()), 1.0 / float(self.spec.params["C"]))]
        hessian = (Za.T * (effective_weights(len(X), w) * p * (1 - p))) @ Za + np.diag(precision)
        standard = np.zeros((len(keep), len(keep)))
        standard[np.ix_(keep, keep)] = np.linalg.inv(hessian)
        transform = to_raw(mean, scale)
        return np.asarray(transform @ standard @ transform.T)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds margins."""
        if self.is_linear:
            return np.asarray(X @ self.coef_ + self.intercept_, dtype=float)
        return np.asarray(self.estimator_.decision_function(X[:, :self.width_]), dtype=float)

    def to_scoring_model(self, encoder: FeatureEncoder, X_train: np.ndarray, calibration: Platt,
                         interval: IntervalSettings | None = None) -> ScoringModel:
        """The exportable numpy-only model, explained against the training rows (a linear
        model against `reference_`, with the interval `interval` sets)."""
        if self.is_linear:
            settings = interval or IntervalSettings()
            return ScoringModel(encoder, LINEAR, calibration, coef=self.coef_.copy(),
                                intercept=self.intercept_, reference=self.reference_.copy(),
                                covariance=self.covariance_.copy(), level=settings.level,
                                model_error=settings.model_error)
        return ScoringModel(encoder, TREES, calibration,
                            trees=compile_hist_gradient_boosting(self.estimator_))


def candidate_specs(candidates: tuple[str, ...], logistic_c: tuple[float, ...],
                    boosted_trees: tuple[dict[str, Any], ...]) -> list[CandidateSpec]:
    """Expand the configured families into concrete candidates."""
    specs: list[CandidateSpec] = []
    if BAYES in candidates:
        specs.append(CandidateSpec(BAYES))
    if LINEAR in candidates:
        specs += [CandidateSpec(LINEAR, {"C": float(c)}) for c in logistic_c]
    if TREES in candidates:
        specs += [CandidateSpec(TREES, dict(params)) for params in boosted_trees]
    return specs

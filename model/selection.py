"""Model selection, calibration and backtests on small, imbalanced trial data.

The procedure, for a given candidate: encode, fit, and calibrate with Platt scaling
fitted on out-of-fold margins. Candidates are compared by repeated stratified
cross-validation on calibrated log loss; the time-aware backtest then replays the
chosen procedure period by period, training only on earlier periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from model.calibration import Platt, fit_platt, sigmoid
from model.config import Config
from model.errors import TrainingRefused
from model.estimators import CandidateSpec, MarginModel
from model.features import FeatureEncoder
from model.metrics import log_loss
from model.scorer import ScoringModel


@dataclass(frozen=True)
class TrainingData:
    """Validated labelled proposals with their outcomes and inverse-propensity weights."""

    proposals: pd.DataFrame
    y: np.ndarray
    weights: np.ndarray
    periods: np.ndarray

    @property
    def positives(self) -> int:
        """Number of proposals with real impact."""
        return int(self.y.sum())

    @property
    def effective_size(self) -> float:
        """Kish's effective sample size of the weights."""
        return float(self.weights.sum() ** 2 / (self.weights**2).sum())


@dataclass(frozen=True)
class CandidateResult:
    """Cross-validated performance of one candidate."""

    spec: CandidateSpec
    log_loss: float
    oof_margins: np.ndarray  # (repeats, n)


def prepare(proposals: pd.DataFrame, config: Config) -> TrainingData:
    """Outcomes and weights from validated labelled proposals; refuses unusable data."""
    y = proposals[config.role("label")].to_numpy(dtype=float)
    positives, n = int(y.sum()), len(y)
    minimum = config.model.min_positives
    if positives == 0 or positives == n:
        outcome = "real impact" if positives else "no real impact"
        raise TrainingRefused(f"all {n} labelled proposals have {outcome}: a model needs both "
                              "outcomes to learn from")
    if min(positives, n - positives) < minimum:
        raise TrainingRefused(
            f"only {positives} proposals with real impact and {n - positives} without; at least "
            f"{minimum} of each are needed (model.min_positives in the configuration)")
    propensity_column = config.roles.get("propensity")
    propensity = (proposals[propensity_column].to_numpy(dtype=float)
                  if propensity_column in proposals else np.ones(n))
    propensity = np.where(np.isfinite(propensity), propensity, 1.0)
    weights = 1.0 / np.clip(propensity, config.model.propensity_clip, 1.0)
    return TrainingData(proposals.reset_index(drop=True), y, weights,
                        proposals[config.role("period")].astype(str).to_numpy())


def n_folds(y: np.ndarray, wanted: int) -> int:
    """Folds for stratified CV: never more than either class has members."""
    positives = int(y.sum())
    return max(2, min(wanted, positives, len(y) - positives))


def fit_margin(spec: CandidateSpec, proposals: pd.DataFrame, y: np.ndarray, w: np.ndarray,
               config: Config, seed: int) -> tuple[FeatureEncoder, MarginModel, np.ndarray]:
    """Fit encoder and candidate on proposals; returns both and the encoded matrix."""
    encoder = FeatureEncoder(config.features,
                             rare_level_min_count=config.model.rare_level_min_count)
    X = encoder.fit(proposals).transform(proposals)
    model = MarginModel(spec, seed=seed).fit(X, y, w, encoder.monotone_)
    return encoder, model, X


def out_of_fold_margins(spec: CandidateSpec, data: TrainingData, config: Config, *,
                        repeats: int, seed: int) -> np.ndarray:
    """Margins for every proposal from models that did not see it: (repeats, n)."""
    folds = n_folds(data.y, config.model.cv_folds)
    splitter = (RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
                if repeats > 1 else StratifiedKFold(folds, shuffle=True, random_state=seed))
    margins = np.full((repeats, len(data.y)), np.nan)
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(data.y)), data.y)):
        encoder, model, _ = fit_margin(spec, data.proposals.iloc[train], data.y[train],
                                       data.weights[train], config, seed)
        margins[i // folds, test] = model.margin(encoder.transform(data.proposals.iloc[test]))
    return margins


def calibrate(margins: np.ndarray, data: TrainingData) -> Platt:
    """Platt scaling fitted on out-of-fold margins stacked over repeats."""
    repeats = margins.shape[0]
    return fit_platt(margins.ravel(), np.tile(data.y, repeats), np.tile(data.weights, repeats))


def evaluate_candidate(spec: CandidateSpec, data: TrainingData, config: Config,
                       seed: int) -> CandidateResult:
    """Repeated stratified CV of one candidate, scored by calibrated, weighted log loss."""
    margins = out_of_fold_margins(spec, data, config, repeats=config.model.cv_repeats,
                                  seed=seed)
    platt = calibrate(margins, data)
    losses = [log_loss(data.y, sigmoid(platt.logit(m)), data.weights) for m in margins]
    return CandidateResult(spec, float(np.mean(losses)), margins)


def candidates_for(data: TrainingData, specs: list[CandidateSpec],
                   config: Config) -> tuple[list[CandidateSpec], str]:
    """All candidates, or only the most regularised one when outcomes are scarce."""
    if min(data.positives, len(data.y) - data.positives) >= config.model.comfortable_positives:
        return specs, ""
    safest = min(specs, key=lambda s: s.regularisation_rank)
    return [safest], (
        f"LITTLE DATA: only {data.positives} proposals with real impact (fewer than "
        f"{config.model.comfortable_positives}); trained only the most regularised "
        f"candidate, {safest.name}. Treat scores as rough until more periods are labelled.")


def fit_procedure(spec: CandidateSpec, data: TrainingData, config: Config, seed: int,
                  oof_margins: np.ndarray | None = None) -> tuple[ScoringModel, np.ndarray]:
    """The full procedure: fit on all rows, calibrate on out-of-fold margins.

    Returns the scoring model and the out-of-fold margins used to calibrate it.
    """
    if oof_margins is None:
        oof_margins = out_of_fold_margins(spec, data, config, repeats=1, seed=seed)
    encoder, model, X = fit_margin(spec, data.proposals, data.y, data.weights, config, seed)
    return model.to_scoring_model(encoder, X, calibrate(oof_margins, data)), oof_margins


def subset(data: TrainingData, mask: np.ndarray) -> TrainingData:
    """The rows of `data` selected by a boolean mask."""
    return TrainingData(data.proposals[mask].reset_index(drop=True), data.y[mask],
                        data.weights[mask], data.periods[mask])


def summary_row(period: str, y: np.ndarray, p: np.ndarray, **extra: Any) -> dict[str, Any]:
    """Per-period backtest figures (AUC is missing when the period has one outcome only)."""
    from model.metrics import brier, roc_auc

    w = np.ones_like(p)
    return {"period": period, "rows": len(y), "positives": int(y.sum()),
            "expected_positives": float(p.sum()), "roc_auc": roc_auc(y, p, w),
            "log_loss": log_loss(y, p, w), "brier": brier(y, p, w), **extra}

"""Model selection, calibration and backtests on small, imbalanced trial data.

The procedure, for a given candidate: encode, fit, and calibrate with Platt scaling
fitted on out-of-fold margins (not the bayes candidate: its posterior already shrinks,
and Platt scaling on a few dozen outcomes made its probabilities worse,
bench/results/cold_start.md). Candidates are compared by repeated stratified
cross-validation on calibrated log loss; the time-aware backtest then replays the
chosen procedure period by period, training only on earlier periods.

Little data degrades the procedure rather than stopping it: only data with a single
outcome is refused; below `model.min_positives` proposals of either outcome only the
bayes candidate is trained (its prior keeps every fit finite, even on folds with no
positive), and below `model.comfortable_positives` only the most regularised one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from model.beliefs import Prior, build_prior
from model.calibration import Platt, fit_platt, sigmoid
from model.config import Config
from model.errors import refuse_single_outcome
from model.estimators import CandidateSpec, IntervalSettings, MarginModel
from model.features import FeatureEncoder
from model.metrics import log_loss
from model.parallel import SERIAL, Task, Workers
from model.progress import NO_PROGRESS, Progress
from model.propensity import fit_weights, scoring_weights
from model.scorer import BAYES, TREES, ScoringModel

BAYES_SPEC = CandidateSpec(BAYES)


@dataclass(frozen=True)
class TrainingData:
    """Validated labelled proposals with their outcomes and inverse-propensity weights.

    `weights` weight the fits; `scoring`, the metrics (`model.propensity`); None: `weights`.
    """

    proposals: pd.DataFrame
    y: np.ndarray
    weights: np.ndarray
    periods: np.ndarray
    scoring: np.ndarray | None = None

    @property
    def scoring_weights(self) -> np.ndarray:
        """The weights of every metric computed on these rows."""
        return self.weights if self.scoring is None else self.scoring

    @property
    def positives(self) -> int:
        """Number of proposals with real impact."""
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        """Number of proposals without real impact."""
        return len(self.y) - self.positives

    @property
    def scarcer(self) -> int:
        """Proposals of the rarer outcome."""
        return min(self.positives, self.negatives)

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
    """Outcomes and weights from validated labelled proposals.

    Raises:
        TrainingRefused: when every proposal has the same outcome (or there are none).
    """
    y = proposals[config.role("label")].to_numpy(dtype=float)
    refuse_single_outcome(int(y.sum()), len(y))
    return TrainingData(proposals.reset_index(drop=True), y, fit_weights(proposals, config),
                        proposals[config.role("period")].astype(str).to_numpy(),
                        scoring_weights(proposals, config))


def n_folds(y: np.ndarray, wanted: int) -> int:
    """Folds for stratified CV: never more than either class has members."""
    positives = int(y.sum())
    return max(2, min(wanted, positives, len(y) - positives))


def new_encoder(config: Config) -> FeatureEncoder:
    """An unfitted encoder of the configured features and watched pairs."""
    return FeatureEncoder(config.features, rare_level_min_count=config.model.rare_level_min_count,
                          pairs=config.surprises.pairs, products=config.surprises.products,
                          cell_min_count=config.surprises.min_rows)


def fit_margin(spec: CandidateSpec, proposals: pd.DataFrame, y: np.ndarray, w: np.ndarray,
               config: Config, seed: int) -> tuple[FeatureEncoder, MarginModel, np.ndarray]:
    """Fit encoder and candidate on proposals; returns both and the encoded matrix."""
    encoder = new_encoder(config)
    X = encoder.fit(proposals).transform(proposals)
    prior = build_prior(config.beliefs, encoder, X, y, w) if spec.kind == BAYES else None
    model = MarginModel(spec, seed=seed).fit(X, y, w, encoder.monotone_, prior,
                                             encoder.main_width_)
    return encoder, model, X


def cv_splits(y: np.ndarray, config: Config, *, repeats: int,
              seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train and test rows of every fold of every repeat, repeat by repeat."""
    folds = n_folds(y, config.model.cv_folds)
    splitter = (RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
                if repeats > 1 else StratifiedKFold(folds, shuffle=True, random_state=seed))
    with warnings.catch_warnings():
        # A single proposal of one outcome leaves a fold without it: expected, and the
        # bayes candidate, the only one trained then, fits such a fold.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(splitter.split(np.zeros(len(y)), y))


@dataclass(frozen=True)
class EncodedFold:
    """One fold, encoded by an encoder fitted on its training rows only."""

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    monotone: np.ndarray
    X_test: np.ndarray
    prior: Prior | None = None  # the beliefs on this fold's columns, for the bayes candidate
    main_width: int | None = None  # columns before the pair cells (see `model.estimators`)


def encode_fold(data: TrainingData, config: Config, train: np.ndarray, test: np.ndarray,
                with_prior: bool = True) -> EncodedFold:
    """Fit the encoder on the fold's training rows; encode those and its test rows (and,
    `with_prior`, build the beliefs' prior on its columns)."""
    encoder = new_encoder(config)
    past = data.proposals.iloc[train]
    X = encoder.fit(past).transform(past)
    y, w = data.y[train], data.weights[train]
    prior = build_prior(config.beliefs, encoder, X, y, w) if with_prior else None
    return EncodedFold(X, y, w, encoder.monotone_, encoder.transform(data.proposals.iloc[test]),
                       prior, encoder.main_width_)


def fold_margins(spec: CandidateSpec, fold: EncodedFold, seed: int) -> np.ndarray:
    """Margins of the fold's test rows from the candidate fitted on its training rows."""
    model = MarginModel(spec, seed=seed).fit(fold.X, fold.y, fold.weights, fold.monotone,
                                             fold.prior, fold.main_width)
    return model.margin(fold.X_test)


def cross_validated_margins(specs: list[CandidateSpec], data: TrainingData, config: Config, *,
                            repeats: int, seed: int, workers: Workers = SERIAL,
                            progress: Progress = NO_PROGRESS) -> list[np.ndarray]:
    """Out-of-fold margins of every candidate, (repeats, n) each.

    Every candidate sees the same folds, so each fold is encoded once (while earlier
    fits run) and each (fold, candidate) fit is one task; within a fold the slowest
    candidates go first so that no worker is left with a long fit at the end.
    """
    splits = cv_splits(data.y, config, repeats=repeats, seed=seed)
    folds = len(splits) // repeats
    order = sorted(range(len(specs)), key=lambda c: -_expected_cost(specs[c]))

    with_prior = any(spec.kind == BAYES for spec in specs)

    def tasks() -> Iterator[Task]:
        for train, test in splits:
            fold = encode_fold(data, config, train, test, with_prior)
            yield from ((fold_margins, (specs[c], fold, seed)) for c in order)

    results = iter(workers.run(tasks(), progress))
    margins = [np.full((repeats, len(data.y)), np.nan) for _ in specs]
    for s, (_, test) in enumerate(splits):
        for c in order:
            margins[c][s // folds, test] = next(results)
    return margins


def _expected_cost(spec: CandidateSpec) -> float:
    # Boosted trees take about as long as their number of iterations; a logistic fit
    # costs less than the smallest of them.
    return float(spec.params.get("max_iter", 100)) if spec.kind == TREES else 1.0


def out_of_fold_margins(spec: CandidateSpec, data: TrainingData, config: Config, *,
                        repeats: int, seed: int, workers: Workers = SERIAL) -> np.ndarray:
    """Margins for every proposal from models that did not see it: (repeats, n)."""
    return cross_validated_margins([spec], data, config, repeats=repeats, seed=seed,
                                   workers=workers)[0]


def calibrate(margins: np.ndarray, data: TrainingData) -> Platt:
    """Platt scaling fitted on out-of-fold margins stacked over repeats."""
    repeats = margins.shape[0]
    return fit_platt(margins.ravel(), np.tile(data.y, repeats), np.tile(data.weights, repeats))


def calibration_for(spec: CandidateSpec, margins: np.ndarray, data: TrainingData) -> Platt:
    """The candidate's calibration: Platt scaling on its out-of-fold margins, or the
    identity for the bayes candidate (see the module docstring)."""
    return Platt() if spec.kind == BAYES else calibrate(margins, data)


def score_candidate(spec: CandidateSpec, margins: np.ndarray,
                    data: TrainingData) -> CandidateResult:
    """A candidate's calibrated, weighted log loss, averaged over the CV repeats."""
    platt = calibration_for(spec, margins, data)
    losses = [log_loss(data.y, sigmoid(platt.logit(m)), data.scoring_weights) for m in margins]
    return CandidateResult(spec, float(np.mean(losses)), margins)


def evaluate_candidates(specs: list[CandidateSpec], data: TrainingData, config: Config,
                        seed: int, *, workers: Workers = SERIAL,
                        progress: Progress = NO_PROGRESS) -> list[CandidateResult]:
    """Repeated stratified CV of every candidate, scored by calibrated, weighted log loss."""
    margins = cross_validated_margins(specs, data, config, repeats=config.model.cv_repeats,
                                      seed=seed, workers=workers, progress=progress)
    return [score_candidate(spec, m, data) for spec, m in zip(specs, margins, strict=True)]


def candidates_for(data: TrainingData, specs: list[CandidateSpec],
                   config: Config) -> tuple[list[CandidateSpec], str]:
    """All candidates, only the most regularised one when outcomes are scarce, or only
    the bayes candidate below `model.min_positives` (whatever the configured list)."""
    settings = config.model
    if data.scarcer >= settings.comfortable_positives:
        return specs, ""
    counts = (f"only {data.positives} proposals with real impact and {data.negatives} "
              "without")
    rough = ("The model is provisional: treat scores as rough, and their intervals as the "
             "honest part, until more periods are labelled.")
    if data.scarcer < settings.min_positives:
        return [BAYES_SPEC], (
            f"VERY LITTLE DATA: {counts} (fewer than {settings.min_positives} of one outcome, "
            "model.min_positives); trained only bayes_logistic, which leans on the "
            f"configured beliefs. {rough}")
    safest = min(specs, key=lambda s: s.regularisation_rank)
    return [safest], (
        f"LITTLE DATA: {counts} (fewer than {settings.comfortable_positives} of one outcome, "
        f"model.comfortable_positives); trained only the most regularised candidate, "
        f"{safest.name}. {rough}")


def fit_procedure(spec: CandidateSpec, data: TrainingData, config: Config, seed: int,
                  oof_margins: np.ndarray | None = None, *,
                  workers: Workers = SERIAL) -> tuple[ScoringModel, np.ndarray]:
    """The full procedure: fit on all rows, calibrate on out-of-fold margins.

    Returns the scoring model and the out-of-fold margins used to calibrate it.
    """
    model, _, oof_margins = fit_final(spec, data, config, seed, oof_margins, workers=workers)
    return model, oof_margins


def fit_final(spec: CandidateSpec, data: TrainingData, config: Config, seed: int,
              oof_margins: np.ndarray | None = None, *, workers: Workers = SERIAL
              ) -> tuple[ScoringModel, MarginModel, np.ndarray]:
    """`fit_procedure`, also returning the fitted estimator the scoring model was exported from.

    The bayes candidate is not recalibrated, so it needs no out-of-fold margins: none are
    computed for it (the margins returned then have no repeat).
    """
    if oof_margins is None and spec.kind == BAYES:
        oof_margins = np.empty((0, len(data.y)))
    elif oof_margins is None:
        oof_margins = out_of_fold_margins(spec, data, config, repeats=1, seed=seed,
                                          workers=workers)
    encoder, model, X = fit_margin(spec, data.proposals, data.y, data.weights, config, seed)
    interval = IntervalSettings(config.model.interval_level, config.model.model_error_sd)
    scoring = model.to_scoring_model(encoder, X, calibration_for(spec, oof_margins, data),
                                     interval)
    return scoring, model, oof_margins


def features_only(data: TrainingData, config: Config) -> TrainingData:
    """The same rows with only the columns the model learns from."""
    present = [c.name for c in config.features if c.name in data.proposals]
    return TrainingData(data.proposals[present], data.y, data.weights, data.periods, data.scoring)


def subset(data: TrainingData, mask: np.ndarray) -> TrainingData:
    """The rows of `data` selected by a boolean mask."""
    return TrainingData(data.proposals[mask].reset_index(drop=True), data.y[mask],
                        data.weights[mask], data.periods[mask], data.scoring_weights[mask])


def summary_row(period: str, y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None,
                **extra: Any) -> dict[str, Any]:
    """Per-period backtest figures, weighted by `w` (AUC is missing when the period has one
    outcome only)."""
    from model.metrics import brier, roc_auc

    w = np.ones_like(p) if w is None else w
    return {"period": period, "rows": len(y), "positives": int(y.sum()),
            "expected_positives": float(p.sum()), "roc_auc": roc_auc(y, p, w),
            "log_loss": log_loss(y, p, w), "brier": brier(y, p, w), **extra}

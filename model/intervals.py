"""Probability intervals for every candidate, and the linear posterior behind them.

Linear candidates (bayes_logistic, logistic) carry their own Laplace posterior: a
proposal's interval is its calibrated log-odds -/+ z * sqrt(sd^2 + model_error^2),
sd being the posterior standard deviation of its log-odds (`model.scorer`).

Boosted trees have no posterior. Their interval combines a bootstrap of the trees
themselves with the linear posterior:

1. the chosen tree candidate is refitted `TREE_REPLICATES` times on stratified
   bootstrap resamples of the training rows (each refit encodes its own resample,
   as the procedure does), and each refit scores every training row;
2. the trees' bootstrap variance, averaged over the training rows, is divided by the
   average posterior variance of the bayes model fitted on the same rows; the square
   root is the model's `interval_scale`, and a proposal's sd is `interval_scale` times
   its linear posterior sd (times the calibration's slope): the trees' own spread,
   distributed across proposals as the linear posterior distributes it (wider for
   rare levels and extreme values);
3. refits measure the trees' variance, not their bias: on a few hundred rows boosted
   trees are shrunk far towards the base rate. The model-error term therefore adds, to
   the linear models' `model_error_sd`, the root mean square disagreement between the
   trees' calibrated log-odds and the bayes model's on the training rows (in
   quadrature): what the trees may miss that the linear posterior would not.

Measured on simulated months (bench/results/cold_start.md), the median coverage of
the trees' 90% intervals at 300 / 1,000 / 5,000 rows was 0.66 / 0.83 / 0.87 with steps
1-2 alone, 0.87 / 0.93 / 0.94 with step 3; the union of the trees' and the bayes
model's intervals covered 0.96 / 0.96 / 0.95.

Why not keep the refits and evaluate each of them on every proposal scored: that is a
full ensemble per refit and per proposal, several times the cost of scoring with
reasons (bench/predict.py), while this costs one quadratic form in the encoded
columns. The averaged variance needs few refits, being a mean over every training row.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from model.bayes import BayesianLogistic, margin_sd
from model.beliefs import build_prior
from model.config import Config
from model.estimators import CandidateSpec, MarginModel
from model.features import FeatureEncoder
from model.scorer import BAYES, ScoringModel
from model.selection import TrainingData, fit_margin

TREE_REPLICATES = 10  # refits per training; a mean over every training row needs few


def linear_posterior(encoder: FeatureEncoder, data: TrainingData, config: Config,
                     fitted: MarginModel | None = None) -> BayesianLogistic:
    """The bayes model under the configured beliefs, on every training row, with `encoder`.

    `fitted`: the chosen candidate fitted on those rows with that encoder; when it is the
    bayes model, its posterior is this one (the fit is deterministic) and is reused.
    """
    if fitted is not None and fitted.spec.kind == BAYES:
        posterior = copy.copy(fitted.posterior_)
        posterior.level, posterior.model_error = (config.model.interval_level,
                                                  config.model.model_error_sd)
        return posterior
    X = encoder.transform(data.proposals)
    prior = build_prior(config.beliefs, encoder, X, data.y, data.weights)
    return BayesianLogistic(prior, level=config.model.interval_level,
                            model_error=config.model.model_error_sd).fit(X, data.y, data.weights)


def bootstrap_rows(y: np.ndarray, seed: int, replicate: int) -> np.ndarray:
    """Row indices of one stratified bootstrap resample (each outcome keeps its count)."""
    rng = np.random.default_rng([seed, replicate])
    rows = []
    for outcome in (0.0, 1.0):
        members = np.flatnonzero(y == outcome)
        rows.append(members[rng.integers(0, len(members), len(members))])
    return np.sort(np.concatenate(rows))


def replicate_margins(spec: CandidateSpec, data: TrainingData, config: Config, seed: int,
                      replicate: int) -> np.ndarray:
    """Raw margins on every training row from the candidate refitted on one bootstrap resample."""
    rows = bootstrap_rows(data.y, seed, replicate)
    encoder, model, _ = fit_margin(spec, data.proposals.iloc[rows].reset_index(drop=True),
                                   data.y[rows], data.weights[rows], config, seed + replicate)
    return model.margin(encoder.transform(data.proposals))


def bootstrap_scale(replicates: np.ndarray, X: np.ndarray, covariance: np.ndarray) -> float:
    """sqrt(mean bootstrap variance of the trees' margins / mean linear posterior variance)."""
    spread = float(np.mean(replicates.var(axis=0, ddof=1)))
    linear = float(np.mean(margin_sd(X, covariance) ** 2))
    return float(np.sqrt(spread / linear)) if linear > 0 else 0.0


def disagreement(model: ScoringModel, posterior: BayesianLogistic, X: np.ndarray) -> float:
    """Root mean square gap between the model's calibrated log-odds and the posterior's on rows X."""
    logit = model.calibration.logit(model.column_contributions(X)[0])
    return float(np.sqrt(np.mean((logit - posterior.margin(X)) ** 2)))


def with_tree_interval(model: ScoringModel, replicates: np.ndarray, posterior: BayesianLogistic,
                       data: TrainingData) -> ScoringModel:
    """The tree model with the interval its bootstrap and the linear posterior give."""
    X = model.encoder.transform(data.proposals)
    scale = bootstrap_scale(replicates, X, posterior.covariance_)
    error = float(np.hypot(posterior.model_error, disagreement(model, posterior, X)))
    return dataclasses.replace(model, covariance=posterior.covariance_, interval_scale=scale,
                               level=posterior.level, model_error=error)

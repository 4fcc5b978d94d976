"""The training job's domain logic: from labelled proposals to a calibrated, explained model.

Besides the chosen model, every training fits the bayes model (`model.bayes`) on all
its rows, whichever candidate wins: its posterior gives each configured belief a
verdict (`TrainingResult.beliefs`), names the effects nobody stated that the outcomes
show clearly (`TrainingResult.learned`), and shapes the intervals of a tree model
(`model.intervals`). Below `model.comfortable_positives` outcomes of either kind the
model is marked provisional.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from model.calibration import sigmoid
from model.config import Config
from model.errors import TrainingRefused
from model.estimators import CandidateSpec, MarginModel, candidate_specs
from model.explain import explain, global_importance
from model.intervals import TREE_REPLICATES, linear_posterior, replicate_margins, with_tree_interval
from model.metrics import evaluate, reliability
from model.pairs import value_labels
from model.parallel import SERIAL, Task, Workers, single_threaded, start_for_training
from model.progress import NO_PROGRESS, Progress
from model.scorer import BAYES, TREES, ScoringModel
from model.selection import (
    CandidateResult,
    TrainingData,
    calibration_for,
    candidates_for,
    evaluate_candidates,
    features_only,
    fit_final,
    fit_procedure,
    n_folds,
    prepare,
    subset,
    summary_row,
)
from model.verdicts import BeliefCheck, LearnedEffect, LearnedPair

# The stages reported to a `Progress`, in the order a training goes through them.
CROSS_VALIDATION = "Cross-validating candidates"
BACKTEST = "Final fit, backtest and intervals"


@dataclass(frozen=True)
class TrainingResult:
    """Everything a training run produced, ready to be tracked, exported and printed."""

    model: ScoringModel
    chosen: CandidateSpec
    candidates: list[dict[str, Any]]
    metrics: dict[str, dict[str, float]]
    backtest: list[dict[str, Any]]
    backtest_metrics: dict[str, dict[str, float]]
    importance: list[dict[str, Any]]
    evidence: dict[str, dict[str, list[int]]]
    reliability: list[dict[str, float]]
    oof_probability: np.ndarray
    data_summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    seed: int = 0
    estimator: MarginModel | None = None  # the fitted estimator `model` was exported from
    beliefs: list[BeliefCheck] = field(default_factory=list)  # each belief's verdict
    learned: list[LearnedEffect] = field(default_factory=list)  # clear effects nobody stated
    pairs: list[LearnedPair] = field(default_factory=list)  # pair cells set apart most
    provisional: bool = False  # fewer than model.comfortable_positives of either outcome
    positives: int = 0  # proposals with real impact
    negatives: int = 0  # proposals without


def fewest_outcomes(spec: CandidateSpec, config: Config) -> int:
    """The fewest outcomes of the scarcer kind a procedure is refitted on outside training
    (a backtest, retrain's look-back): the bayes candidate fits any history with both
    outcomes (as training does), the others need `model.min_positives`."""
    return 1 if spec.kind == BAYES else config.model.min_positives


def backtest_tasks(spec: CandidateSpec, data: TrainingData, config: Config, seed: int,
                   periods: list[str]) -> tuple[dict[str, dict[str, Any]], list[Task]]:
    """Rows for the periods too early to backtest, and a task for each of the others.

    Each task trains the procedure on earlier periods only and scores the period; the
    latest periods train on the most rows, so they come first.
    """
    skipped: dict[str, dict[str, Any]] = {}
    tasks: list[Task] = []
    for period in reversed(periods):
        past = subset(data, data.periods < period)
        current = subset(data, data.periods == period)
        if past.scarcer < fewest_outcomes(spec, config):
            skipped[period] = {"period": period, "rows": len(current.y),
                               "positives": current.positives,
                               "skipped": "too few earlier outcomes"}
        else:
            tasks.append((backtest_period, (spec, past, current, config, seed, period)))
    return skipped, tasks


def pooled_backtest(periods: list[str], skipped: dict[str, dict[str, Any]],
                    scored: list[tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]]
                    ) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """Per-period rows in period order, and the outcomes, probabilities and metric weights
    pooled likewise."""
    by_period = {scores[0]["period"]: scores for scores in scored}
    rows = [skipped[period] if period in skipped else by_period[period][0] for period in periods]
    pooled = [by_period[period][1:] for period in periods if period in by_period]
    if not pooled:
        return rows, np.zeros(0), np.zeros(0), np.zeros(0)
    y, p, w = (np.concatenate([part[i] for part in pooled]) for i in range(3))
    return rows, y, p, w


def backtest_period(spec: CandidateSpec, past: TrainingData, current: TrainingData,
                    config: Config, seed: int,
                    period: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """One period scored by the procedure trained on earlier periods: row, outcomes,
    probabilities and metric weights."""
    model, _ = fit_procedure(spec, past, config, seed)
    p, w = model.predict_proba(current.proposals), current.scoring_weights
    return summary_row(period, current.y, p, w, trained_on=len(past.y)), current.y, p, w


def _level(value: object, boolean: bool) -> str:
    if value is None or value != value:
        return "missing"
    return str(bool(value)).lower() if boolean else str(value)


def evidence(proposals: pd.DataFrame, y: np.ndarray,
             config: Config) -> dict[str, dict[str, list[int]]]:
    """For categories and booleans: [proposals, with real impact] per value seen in training
    ("missing" for an optional column the data lacks)."""
    out: dict[str, dict[str, list[int]]] = {}
    for column in config.features:
        if column.is_numeric:
            continue
        boolean = column.type == "boolean"
        values = (proposals[column.name] if column.name in proposals  # an optional column
                  else [None] * len(proposals))                       # absent: all missing
        levels = [_level(v, boolean) for v in values]
        table = pd.DataFrame({"v": levels, "y": y}).groupby("v")["y"].agg(["size", "sum"])
        out[column.name] = {str(k): [int(r["size"]), int(r["sum"])] for k, r in table.iterrows()}
    return out


def summarise_data(data: TrainingData, config: Config) -> dict[str, Any]:
    """Periods, rows, positives and effective sample size of the training data."""
    frame = pd.DataFrame({"period": data.periods, "y": data.y})
    per_period = frame.groupby("period")["y"].agg(["size", "sum"])
    return {"rows": len(data.y), "positives": data.positives,
            "periods": sorted(set(data.periods)),
            "per_period": {str(k): {"rows": int(r["size"]), "positives": int(r["sum"])}
                           for k, r in per_period.iterrows()},
            "effective_sample_size": round(data.effective_size, 1),
            "weighted": bool(np.any(data.weights != 1.0)),
            "propensity_weights": config.model.propensity_weights}


def train_model(proposals: pd.DataFrame, config: Config, *, seed: int = 0,
                progress: Progress = NO_PROGRESS) -> TrainingResult:
    """Select, calibrate, backtest and explain a model on validated labelled proposals.

    Independent fits run in `config.model.n_jobs` worker processes when the data is
    large enough to repay their start-up; the result is the same either way.

    Raises:
        TrainingRefused: when every proposal has the same outcome.
    """
    data = prepare(proposals, config)
    workers = workers_for(data, config)
    with single_threaded():
        return _train(data, config, seed, workers, progress)


def workers_for(data: TrainingData, config: Config) -> Workers:
    """The worker processes for training on `data`: none on little data, where only the
    safest candidate is cross-validated (a few quick fits), nor where their start-up
    would cost more than they save (`model.parallel.MIN_ROWS_FOR_WORKERS`)."""
    return Workers.for_training(len(data.y), data.scarcer, config.model)


def start_workers(proposals: pd.DataFrame, config: Config) -> None:
    """Start, in the background, the worker processes `train_model` will use on these
    proposals (none on small data), so that their start-up overlaps the caller's work."""
    start_for_training(proposals[config.role("label")].to_numpy(dtype=float), config.model)


def _train(data: TrainingData, config: Config, seed: int, workers: Workers,
           progress: Progress) -> TrainingResult:
    settings = config.model
    results, warning = select(data, config, seed, workers=workers, progress=progress)
    best = min(results, key=lambda r: (r.log_loss, r.spec.regularisation_rank))
    checked = check_choice(best, data, config, seed, workers=workers, progress=progress)
    posterior = linear_posterior(checked.model.encoder, data, config, checked.estimator)
    model = checked.model
    if checked.replicates is not None:
        model = with_tree_interval(model, checked.replicates, posterior, data)
    explanation = explain(model, data.proposals)
    return TrainingResult(
        model=model, chosen=best.spec,
        candidates=[{"name": r.spec.name, "kind": r.spec.kind, "cv_log_loss": r.log_loss}
                    for r in results],
        metrics=checked.metrics, backtest=checked.backtest,
        backtest_metrics=checked.backtest_metrics,
        importance=global_importance(explanation, model.encoder.directions(data.proposals)),
        evidence=evidence(data.proposals, data.y, config),
        reliability=reliability(data.y, checked.oof_probability),
        oof_probability=checked.oof_probability,
        data_summary={**summarise_data(data, config),
                      "cv_folds": n_folds(data.y, settings.cv_folds),
                      "pair_cells": sum(len(s.levels) for s in model.encoder.specs_
                                        if s.kind == "pair")},  # products are no cells
        warnings=[w for w in (warning, _backtest_warning(checked.backtest)) if w], seed=seed,
        estimator=checked.estimator, beliefs=posterior.belief_checks(),
        learned=posterior.learned_effects(),
        pairs=[labelled_pair(p, config) for p in posterior.pair_effects(
            model.encoder.transform(data.proposals), data.y, weights=data.weights)],
        provisional=data.scarcer < settings.comfortable_positives,
        positives=data.positives, negatives=data.negatives,
    )


def labelled_pair(pair: LearnedPair, config: Config) -> LearnedPair:
    """A learned pair cell with its values as the configuration's `level_labels` word them."""
    return replace(pair, value_labels=value_labels(pair.features, pair.values, config.by_name))


def _backtest_warning(rows: list[dict[str, Any]]) -> str:
    """Why no trial period was backtested, when none was."""
    if any("skipped" not in row for row in rows):
        return ""
    return ("NO BACKTEST: no trial period has earlier periods with outcomes of both kinds to "
            "train on; this model's figures are cross-validated only.")


def select(data: TrainingData, config: Config, seed: int, *, workers: Workers = SERIAL,
           progress: Progress = NO_PROGRESS) -> tuple[list[CandidateResult], str]:
    """Every candidate cross-validated (or only the safest on little data), and any warning."""
    settings = config.model
    specs = candidate_specs(settings.candidates, settings.logistic_c,
                            tuple(dict(p) for p in settings.boosted_trees))
    specs, warning = candidates_for(data, specs, config)
    fits = len(specs) * n_folds(data.y, settings.cv_folds) * settings.cv_repeats
    progress.stage(CROSS_VALIDATION, fits)
    return evaluate_candidates(specs, data, config, seed, workers=workers,
                               progress=progress), warning


@dataclass(frozen=True)
class CheckedChoice:
    """The chosen candidate fitted on every row, backtested, and its metrics."""

    model: ScoringModel
    estimator: MarginModel
    oof_probability: np.ndarray
    metrics: dict[str, dict[str, float]]
    backtest: list[dict[str, Any]]
    backtest_metrics: dict[str, dict[str, float]]
    replicates: np.ndarray | None = None  # trees: bootstrap refits' margins, (B, n)


def check_choice(best: CandidateResult, data: TrainingData, config: Config, seed: int, *,
                 workers: Workers = SERIAL, progress: Progress = NO_PROGRESS) -> CheckedChoice:
    """Fit the chosen candidate on every row, backtest it period by period, and bootstrap
    its cross-validated metrics (and, for trees, refit them on bootstrap resamples for
    their intervals): independent tasks, run side by side. The backtest's pooled
    metrics follow, as they need every period scored."""
    settings = config.model
    calibration = calibration_for(best.spec, best.oof_margins, data)
    oof_probability = sigmoid(calibration.logit(best.oof_margins)).mean(axis=0)
    metrics = partial(evaluate, k=settings.precision_at_k, bootstrap=settings.bootstrap_samples,
                      seed=seed)
    periods = sorted(set(data.periods))[-settings.backtest_periods:]
    slim = features_only(data, config)  # what each task ships to a worker
    skipped, period_tasks = backtest_tasks(best.spec, slim, config, seed, periods)
    refits = TREE_REPLICATES if best.spec.kind == TREES else 0
    tasks: list[Task] = [(fit_final, (best.spec, slim, config, seed, best.oof_margins)),
                         *[(replicate_margins, (best.spec, slim, config, seed, b))
                           for b in range(refits)],
                         *period_tasks, (metrics, (data.y, oof_probability, data.scoring_weights))]
    progress.stage(BACKTEST, len(tasks) + 1)
    (model, estimator, _), *done, cv_metrics = workers.run(tasks, progress)
    rows, bt_y, bt_p, bt_w = pooled_backtest(periods, skipped, done[refits:])
    bt_metrics = metrics(bt_y, bt_p, bt_w) if bt_y.size and 0 < bt_y.sum() < bt_y.size else {}
    progress.advance()
    return CheckedChoice(model, estimator, oof_probability, cv_metrics, rows, bt_metrics,
                         np.array(done[:refits]) if refits else None)


__all__ = ["TrainingRefused", "TrainingResult", "start_workers", "train_model", "workers_for"]

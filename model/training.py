"""The training job's domain logic: from labelled proposals to a calibrated, explained model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model.calibration import sigmoid
from model.config import Config
from model.estimators import CandidateSpec, candidate_specs
from model.explain import explain, global_importance
from model.metrics import evaluate, reliability
from model.scorer import ScoringModel
from model.selection import (
    TrainingData,
    TrainingRefused,
    candidates_for,
    evaluate_candidate,
    fit_procedure,
    n_folds,
    prepare,
    subset,
    summary_row,
)


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


def backtest(spec: CandidateSpec, data: TrainingData, config: Config,
             seed: int) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Train on earlier periods only and score each of the last periods.

    Returns per-period rows and the pooled outcomes and probabilities.
    """
    periods = sorted(set(data.periods))
    rows: list[dict[str, Any]] = []
    pooled_y: list[np.ndarray] = []
    pooled_p: list[np.ndarray] = []
    for period in periods[-config.model.backtest_periods:]:
        past = subset(data, data.periods < period)
        current = subset(data, data.periods == period)
        if min(past.positives, len(past.y) - past.positives) < config.model.min_positives:
            rows.append({"period": period, "rows": len(current.y),
                         "positives": current.positives, "skipped": "too few earlier outcomes"})
            continue
        model, _ = fit_procedure(spec, past, config, seed)
        p = model.predict_proba(current.proposals)
        rows.append(summary_row(period, current.y, p, trained_on=len(past.y)))
        pooled_y.append(current.y)
        pooled_p.append(p)
    if not pooled_y:
        return rows, np.zeros(0), np.zeros(0)
    return rows, np.concatenate(pooled_y), np.concatenate(pooled_p)


def _level(value: object, boolean: bool) -> str:
    if value is None or value != value:
        return "missing"
    return str(bool(value)).lower() if boolean else str(value)


def evidence(proposals: pd.DataFrame, y: np.ndarray,
             config: Config) -> dict[str, dict[str, list[int]]]:
    """For categories and booleans: [proposals, with real impact] per value seen in training."""
    out: dict[str, dict[str, list[int]]] = {}
    for column in config.features:
        if column.is_numeric:
            continue
        boolean = column.type == "boolean"
        levels = [_level(v, boolean) for v in proposals[column.name]]
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
            "weighted": bool(np.any(data.weights != 1.0))}


def _numeric_values(proposals: pd.DataFrame, config: Config) -> dict[str, np.ndarray]:
    return {c.name: pd.to_numeric(proposals[c.name], errors="coerce").to_numpy(dtype=float)
            for c in config.features if c.is_numeric or c.type == "boolean"}


def train_model(proposals: pd.DataFrame, config: Config, *, seed: int = 0) -> TrainingResult:
    """Select, calibrate, backtest and explain a model on validated labelled proposals.

    Raises:
        TrainingRefused: when the data has one outcome only or too few of either.
    """
    data = prepare(proposals, config)
    settings = config.model
    specs = candidate_specs(settings.candidates, settings.logistic_c,
                            tuple(dict(p) for p in settings.boosted_trees))
    specs, warning = candidates_for(data, specs, config)
    results = [evaluate_candidate(spec, data, config, seed) for spec in specs]
    best = min(results, key=lambda r: (r.log_loss, r.spec.regularisation_rank))
    model, oof = fit_procedure(best.spec, data, config, seed, best.oof_margins)
    oof_probability = sigmoid(model.calibration.logit(oof)).mean(axis=0)
    rows, bt_y, bt_p = backtest(best.spec, data, config, seed)
    k = settings.precision_at_k
    explanation = explain(model, data.proposals)
    return TrainingResult(
        model=model, chosen=best.spec,
        candidates=[{"name": r.spec.name, "kind": r.spec.kind, "cv_log_loss": r.log_loss}
                    for r in results],
        metrics=evaluate(data.y, oof_probability, data.weights, k=k,
                         bootstrap=settings.bootstrap_samples, seed=seed),
        backtest=rows,
        backtest_metrics=(evaluate(bt_y, bt_p, k=k, bootstrap=settings.bootstrap_samples,
                                   seed=seed) if bt_y.size and 0 < bt_y.sum() < bt_y.size else {}),
        importance=global_importance(explanation, _numeric_values(data.proposals, config)),
        evidence=evidence(data.proposals, data.y, config),
        reliability=reliability(data.y, oof_probability),
        oof_probability=oof_probability,
        data_summary={**summarise_data(data, config),
                      "cv_folds": n_folds(data.y, settings.cv_folds)},
        warnings=[warning] if warning else [], seed=seed,
    )


__all__ = ["TrainingRefused", "TrainingResult", "train_model"]

"""Metrics for rare-outcome scoring, each with a bootstrap interval."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
EPS = 1e-15


def roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Weighted probability that a positive outranks a negative (ties count half)."""
    order = np.argsort(p, kind="mergesort")
    p, y, w = p[order], y[order], w[order]
    _, starts = np.unique(p, return_index=True)
    neg_w = np.where(y == 0, w, 0.0)
    pos_w = np.where(y == 1, w, 0.0)
    neg_group = np.add.reduceat(neg_w, starts)
    pos_group = np.add.reduceat(pos_w, starts)
    neg_below = np.cumsum(neg_group) - neg_group
    total = pos_group.sum() * neg_group.sum()
    if total == 0:
        return float("nan")
    return float((pos_group * (neg_below + 0.5 * neg_group)).sum() / total)


def pr_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Average precision: precision averaged over the positives, ranked by probability."""
    order = np.argsort(-p, kind="mergesort")
    y, w = y[order], w[order]
    tp = np.cumsum(w * y)
    precision = tp / np.cumsum(w)
    total = (w * y).sum()
    return float("nan") if total == 0 else float((precision * w * y).sum() / total)


def brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean squared error of the probabilities."""
    return float(np.average((p - y) ** 2, weights=w))


def log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Weighted negative log-likelihood (natural log)."""
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.average(y * np.log(q) + (1 - y) * np.log(1 - q), weights=w))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, w: np.ndarray,
                               bins: int = 10) -> float:
    """Weighted gap between predicted and observed rates over equal-count bins."""
    order = np.argsort(p, kind="mergesort")
    total = w.sum()
    error = 0.0
    for chunk in np.array_split(order, min(bins, len(p))):
        if chunk.size:
            cw = w[chunk]
            gap = abs(np.average(p[chunk], weights=cw) - np.average(y[chunk], weights=cw))
            error += cw.sum() / total * gap
    return float(error)


def precision_at(k: int) -> Metric:
    """Share of real impact among the k highest-ranked proposals."""
    def metric(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
        top = np.argsort(-p, kind="mergesort")[: min(k, len(p))]
        return float(np.average(y[top], weights=w[top]))
    return metric


def metric_functions(k: int) -> dict[str, Metric]:
    """The reported metrics by name."""
    return {"roc_auc": roc_auc, "pr_auc": pr_auc, "brier": brier, "log_loss": log_loss,
            "ece": expected_calibration_error, f"precision_at_{k}": precision_at(k)}


def evaluate(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, *, k: int = 5,
             bootstrap: int = 300, seed: int = 0, level: float = 0.90) -> dict[str, dict[str, float]]:
    """Every metric with its bootstrap interval: {name: {value, low, high}}."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = np.ones_like(p) if w is None else np.asarray(w, dtype=float)
    functions = metric_functions(k)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        for name, fn in functions.items():
            draws[name].append(fn(y[idx], p[idx], w[idx]))
    alpha = (1 - level) / 2
    out = {}
    for name, fn in functions.items():
        sample = np.array(draws[name])
        sample = sample[np.isfinite(sample)]
        low, high = (np.quantile(sample, [alpha, 1 - alpha]) if sample.size
                     else (np.nan, np.nan))
        out[name] = {"value": fn(y, p, w), "low": float(low), "high": float(high)}
    return out


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted and observed rate per equal-count bin, for reliability diagrams."""
    order = np.argsort(p, kind="mergesort")
    rows = []
    for chunk in np.array_split(order, min(bins, len(p))):
        if chunk.size:
            rows.append({"predicted": float(p[chunk].mean()), "observed": float(y[chunk].mean()),
                         "count": int(chunk.size)})
    return rows

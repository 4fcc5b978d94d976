"""Training figures as PNG files: reliability diagram, ROC and PR curves, importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reliability_diagram(rows: list[dict[str, float]], path: Path) -> Path:
    """Predicted against observed impact rate per bin of out-of-fold probabilities."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    top = max([0.05] + [max(r["predicted"], r["observed"]) for r in rows]) * 1.1
    ax.plot([0, top], [0, top], color="#999", linestyle="--", label="perfect calibration")
    ax.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], "o-",
            color="#1f5fa8", label="model (out of fold)")
    ax.set(xlabel="predicted impact probability", ylabel="observed impact rate",
           xlim=(0, top), ylim=(0, top), title="Reliability")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def roc_pr_curves(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """ROC and precision-recall curves of out-of-fold probabilities."""
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    tp, fp = np.cumsum(ys), np.cumsum(1 - ys)
    tpr, fpr = tp / max(ys.sum(), 1), fp / max((1 - ys).sum(), 1)
    precision = tp / np.arange(1, len(ys) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    left.plot(np.r_[0, fpr], np.r_[0, tpr], color="#1f5fa8")
    left.plot([0, 1], [0, 1], color="#999", linestyle="--")
    left.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    right.plot(tpr, precision, color="#1f5fa8")
    right.axhline(ys.mean(), color="#999", linestyle="--")
    right.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    return _save(fig, path)


def importance_chart(rows: list[dict[str, Any]], labels: dict[str, str], path: Path) -> Path:
    """Mean absolute contribution per feature, in log-odds."""
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1))
    ax.barh([labels.get(r["feature"], r["feature"]) for r in rows],
            [r["mean_abs_logit"] for r in rows], color="#1f5fa8")
    ax.set(xlabel="mean |contribution| (log-odds)", title="What drives the score")
    return _save(fig, path)

"""Drift between the newest trial period and the history before it.

Per feature a distance suited to its type: the population stability index (PSI)
for numbers, on quantile bins of the history; the Jensen-Shannon distance for
categories and booleans. Also new categories, missing-value rates, and the impact
rate with a Wilson interval (`model.metrics.proportion_score_interval`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column
from model.metrics import proportion_score_interval

PSI_LARGE = 0.25  # the usual rule of thumb: above 0.25 the population has shifted
JS_LARGE = 0.2
EPS = 1e-4


def psi(history: np.ndarray, newest: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `newest` against `history` (missing values dropped)."""
    history, newest = history[np.isfinite(history)], newest[np.isfinite(newest)]
    if history.size == 0 or newest.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(history, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, history, side="right"), minlength=edges.size + 1)
    actual = np.bincount(np.searchsorted(edges, newest, side="right"), minlength=edges.size + 1)
    e = np.clip(expected / expected.sum(), EPS, None)
    a = np.clip(actual / actual.sum(), EPS, None)
    return float(((a - e) * np.log(a / e)).sum())


def jensen_shannon(history: pd.Series, newest: pd.Series) -> float:
    """Jensen-Shannon distance (base 2, 0 to 1) between two level distributions."""
    levels = sorted(set(history.dropna().astype(str)) | set(newest.dropna().astype(str)))
    if not levels:
        return float("nan")
    p = history.dropna().astype(str).value_counts().reindex(levels, fill_value=0).to_numpy(float)
    q = newest.dropna().astype(str).value_counts().reindex(levels, fill_value=0).to_numpy(float)
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / m[mask])).sum())

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def feature_drift(column: Column, history: pd.Series, newest: pd.Series) -> dict[str, Any]:
    """Distance, new categories and missing rates for one feature."""
    row: dict[str, Any] = {"feature": column.name, "label": column.label,
                           "missing_history": float(history.isna().mean()),
                           "missing_newest": float(newest.isna().mean())}
    if column.is_numeric:
        row.update(metric="psi", distance=psi(history.to_numpy(float), newest.to_numpy(float)))
        row["large"] = bool(row["distance"] > PSI_LARGE)
    else:
        row.update(metric="jensen_shannon", distance=jensen_shannon(history, newest))
        row["large"] = bool(row["distance"] > JS_LARGE)
        if column.is_categorical:
            seen = set(history.dropna().astype(str))
            row["new_categories"] = sorted(set(newest.dropna().astype(str)) - seen)
    row["large"] = row["large"] or abs(row["missing_newest"] - row["missing_history"]) > 0.2
    return row


def drift_report(proposals: pd.DataFrame, periods: pd.Series, label: str,
                 features: tuple[Column, ...]) -> dict[str, Any]:
    """Compare the newest period with all earlier ones (nothing to compare without any)."""
    newest_period = str(periods.max())
    newest = (periods == newest_period).to_numpy()
    rows = [feature_drift(c, proposals.loc[~newest, c.name], proposals.loc[newest, c.name])
            for c in features if c.name in proposals and (~newest).any()]
    y = proposals[label].to_numpy(float)
    low, high = proportion_score_interval(float(y[newest].mean()), int(newest.sum()), 0.9)
    history_rate = float(y[~newest].mean()) if (~newest).any() else float("nan")
    impact = {"newest_rate": float(y[newest].mean()), "newest_low": low, "newest_high": high,
              "history_rate": history_rate,
              "shifted": bool(np.isfinite(history_rate) and not low <= history_rate <= high)}
    warnings = [f"{r['label']}: large shift ({r['metric']} {r['distance']:.2f}"
                + (f"; new: {', '.join(r['new_categories'])}" if r.get("new_categories") else "")
                + ")" for r in rows if r["large"]]
    if impact["shifted"]:
        warnings.append(f"impact rate {impact['newest_rate']:.1%} in {newest_period} is outside "
                        f"its 90% interval around the history's {history_rate:.1%}")
    return {"newest_period": newest_period, "features": rows, "impact": impact,
            "warnings": warnings}

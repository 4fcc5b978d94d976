"""Drift between the newest trial period and the history before it.

Per feature a distance suited to its type: the population stability index (PSI)
for numbers, on quantile bins of the history; the Jensen-Shannon distance for
categories and booleans. Also new categories, missing-value rates, and the impact
rate with a Wilson interval (`model.metrics.proportion_score_interval`).

A shift is called large when it passes the usual rule of thumb (PSI 0.25, distance 0.2,
20 points of missing values) *and* what chance gives with these numbers of rows: one
trial period of 40 proposals against a few hundred differs by a PSI above 0.25 in most
periods with nothing changed (`bench/drift.py`). The chance level of each figure is the
one that `CHANCE_LEVEL` of random re-splits of the same rows into history and newest
period reach (`CHANCE_SPLITS` of them, seeded): about one feature in a hundred is
called large by chance, and the report says how many that makes for its features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column
from model.metrics import proportion_score_interval
from model.pairs import level_label

PSI_LARGE = 0.25  # the usual rule of thumb: above 0.25 the population has shifted
JS_LARGE = 0.2
MISSING_LARGE = 0.2  # a change in the share of missing values
CHANCE_LEVEL = 0.01  # a feature's chance of being called large with nothing changed
CHANCE_SPLITS = 200  # random re-splits that measure it
EPS = 1e-4


def psi_bins(rows: int) -> int:
    """Quantile bins for a newest period of `rows` values: ten (deciles) from 100 values,
    fewer below, about ten values a bin, at least two. Deciles of 40 values hold four each,
    and their noise alone passes the rule of thumb in most periods."""
    return int(min(10, max(2, rows // 10)))


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


def _splits(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """`CHANCE_SPLITS` random re-splits of n rows: each row of the (splits, n) boolean
    matrix marks m of them as the newest period."""
    newest = np.zeros((CHANCE_SPLITS, n), dtype=bool)
    chosen = np.argsort(rng.random((CHANCE_SPLITS, n)), axis=1)[:, :m]
    np.put_along_axis(newest, chosen, True, axis=1)
    return newest


def _psi_splits(x: np.ndarray, newest: np.ndarray, bins: int = 10) -> np.ndarray:
    """`psi(x[~split], x[split])` for every split (row of `newest`) at once: bin edges at
    each history's own deciles, interpolated as numpy's default quantile does."""
    finite = np.isfinite(x)
    x, newest = x[finite], newest[:, finite]
    out = np.full(len(newest), np.nan)
    history = ~newest
    counts = history.sum(axis=1)
    usable = (counts > 0) & (newest.sum(axis=1) > 0)
    if not usable.any():
        return out
    order = np.argsort(x, kind="stable")
    xs, seen = x[order], np.cumsum(history[:, order], axis=1)  # seen[s, i]: history rows <= i
    position = np.linspace(0, 1, bins + 1)[1:-1][None, :] * (counts[:, None] - 1)
    low = np.floor(position)
    # The history's k-th smallest value (from 0) is the first sorted value with k + 1 of its
    # rows at or below it.
    take = [np.minimum(np.array([np.searchsorted(seen[i], r[i] + 1) for i in range(len(r))]),
                       len(xs) - 1)
            for r in (low, np.minimum(low + 1, counts[:, None] - 1))]
    edges = xs[take[0]] + (position - low) * (xs[take[1]] - xs[take[0]])  # (splits, bins - 1)
    which = np.array([np.searchsorted(row, x, side="right") for row in edges])  # values' bins
    flat = which + bins * np.arange(len(newest))[:, None]
    e, a = (np.bincount(flat[mask], minlength=bins * len(newest)).reshape(len(newest), bins)
            for mask in (history, newest))
    e = np.clip(e / np.maximum(e.sum(axis=1, keepdims=True), 1), EPS, None)
    a = np.clip(a / np.maximum(a.sum(axis=1, keepdims=True), 1), EPS, None)
    out[usable] = ((a - e) * np.log(a / e)).sum(axis=1)[usable]
    return out


def _js_splits(values: pd.Series, newest: np.ndarray) -> np.ndarray:
    """`jensen_shannon(values[~split], values[split])` for every split at once."""
    codes, levels = pd.factorize(values.astype(str).where(values.notna()))
    if not len(levels):
        return np.full(len(newest), np.nan)
    onehot = np.zeros((len(codes), len(levels)))
    given = codes >= 0
    onehot[np.flatnonzero(given), codes[given]] = 1.0
    q = newest.astype(float) @ onehot
    p = onehot.sum(axis=0)[None, :] - q
    p, q = p / np.maximum(p.sum(axis=1, keepdims=True), 1), q / np.maximum(q.sum(axis=1, keepdims=True), 1)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = [np.where(d > 0, d * np.log2(d / np.where(m > 0, m, 1)), 0.0).sum(axis=1)
              for d in (p, q)]
    return np.sqrt(np.maximum(0.0, (kl[0] + kl[1]) / 2))


def _by_chance(column: Column, values: pd.Series, newest: np.ndarray,
               bins: int) -> tuple[float, float]:
    """The distance and the change in missing share that `CHANCE_LEVEL` of the random
    re-splits `newest` (one per row) of these rows reach."""
    missing = values.isna().to_numpy().astype(float)
    picked = newest.sum(axis=1)
    with np.errstate(invalid="ignore"):
        gaps = np.abs(newest @ missing / picked - (~newest) @ missing / (len(missing) - picked))
    distances = (_psi_splits(values.to_numpy(float, na_value=np.nan), newest, bins)
                 if column.is_numeric else _js_splits(values, newest))
    quantile = 1 - CHANCE_LEVEL
    finite = distances[np.isfinite(distances)]
    return (float(np.quantile(finite, quantile)) if finite.size else float("nan"),
            float(np.quantile(np.nan_to_num(gaps), quantile)))


def feature_drift(column: Column, history: pd.Series, newest: pd.Series,
                  splits: np.ndarray) -> dict[str, Any]:
    """Distance, new categories and missing rates for one feature, and what chance reaches
    with random re-splits of its rows (history first, then newest; `_splits`): `chance`,
    `chance_missing`, which a large shift must pass too."""
    row: dict[str, Any] = {"feature": column.name, "label": column.label,
                           "missing_history": float(history.isna().mean()),
                           "missing_newest": float(newest.isna().mean())}
    if column.is_numeric:
        bins = psi_bins(int(newest.notna().sum()))
        row.update(metric="psi", bins=bins,
                   distance=psi(history.to_numpy(float), newest.to_numpy(float), bins))
        rule = PSI_LARGE
    else:
        row.update(metric="jensen_shannon", distance=jensen_shannon(history, newest))
        rule = JS_LARGE
        if column.is_categorical:
            seen = set(history.dropna().astype(str))
            row["new_categories"] = sorted(set(newest.dropna().astype(str)) - seen)
    both = pd.concat([history, newest], ignore_index=True)
    chance, chance_missing = _by_chance(column, both, splits, row.get("bins", 10))
    row.update(chance=chance, chance_missing=chance_missing)
    gap = abs(row["missing_newest"] - row["missing_history"])
    row["shifted"] = bool(row["distance"] > max(rule, chance))  # nan compares false
    row["missing_shifted"] = bool(gap > max(MISSING_LARGE, chance_missing))
    row["large"] = row["shifted"] or row["missing_shifted"]
    return row


def _warning(row: dict[str, Any], column: Column | None = None) -> str:
    """'Expected reach: large shift (psi 0.41; 1% of random splits of these rows reach 0.30)'."""
    parts = []
    if row["shifted"]:
        parts.append(f"{row['metric']} {row['distance']:.2f}; {CHANCE_LEVEL:.0%} of random "
                     f"splits of these rows reach {row['chance']:.2f}")
    if row["missing_shifted"]:
        parts.append(f"missing in {row['missing_newest']:.0%} of the newest period against "
                     f"{row['missing_history']:.0%} before")
    if row.get("new_categories"):
        parts.append(f"new: {', '.join(level_label(column, v) for v in row['new_categories'])}")
    return f"{row['label']}: large shift ({'; '.join(parts)})"


def drift_report(proposals: pd.DataFrame, periods: pd.Series, label: str,
                 features: tuple[Column, ...], seed: int = 0,
                 propensities: pd.Series | None = None, decided: bool = False) -> dict[str, Any]:
    """Compare the newest period with all earlier ones (nothing to compare without any);
    `seed` seeds the random re-splits that measure chance.

    With acceptance `propensities` below 1 (proposals accepted by `decide`, the others
    without outcomes), impact rates are weighted by 1 / propensity, as if every proposal
    had been accepted: the accepted, top-ranked ones alone do better than a whole month.
    `decided`: the newest period's proposals went through `decide` (its log holds them),
    which makes it a period of accepted proposals even when every propensity is 1 (no
    exploration). A newest period of accepted proposals only (`selected`) gets no
    impact-rate warning (its weighted rate swings with each explored proposal); features
    are compared on the rows as stored, and the report says that a shift there can be the
    selection's."""
    newest_period = str(periods.max())
    newest = (periods == newest_period).to_numpy()
    rows = []
    if (~newest).any():
        splits = _splits(len(newest), int(newest.sum()), np.random.default_rng(seed))
        rows = [feature_drift(c, proposals.loc[~newest, c.name], proposals.loc[newest, c.name],
                              splits) for c in features if c.name in proposals]
    y = proposals[label].to_numpy(float)
    p = (np.ones(len(y)) if propensities is None
         else np.clip(propensities.to_numpy(float, na_value=1.0), 1e-6, 1.0))
    w = 1.0 / p
    selected = decided or bool((p[newest] < 1.0).any())
    rate = float(w[newest] @ y[newest] / w[newest].sum())
    rows_equivalent = max(1, round(float(w[newest].sum() ** 2 / (w[newest] ** 2).sum())))
    low, high = proportion_score_interval(rate, rows_equivalent, 0.9)
    history_rate = (float(w[~newest] @ y[~newest] / w[~newest].sum()) if (~newest).any()
                    else float("nan"))
    # A period of accepted proposals is not judged against the history by its rate: one
    # explored proposal weighted 40 that had real impact makes the month look like 85%. The
    # gate judges its outcomes against the champion's probabilities for those very rows.
    impact = {"newest_rate": rate, "newest_low": low, "newest_high": high,
              "history_rate": history_rate, "weighted": bool((p[newest] < 1.0).any()),
              "shifted": bool(not selected and np.isfinite(history_rate)
                              and not low <= history_rate <= high)}
    by_name = {c.name: c for c in features}
    warnings = [_warning(r, by_name.get(r["feature"])) for r in rows if r["large"]]
    if selected and warnings:
        warnings.append(f"{newest_period} holds only the proposals accepted (acceptance "
                        "propensities below 1): a feature's shift can be the selection's, "
                        "not the proposals'")
    if impact["shifted"]:
        weighted = " (weighted by 1 / acceptance propensity)" if impact["weighted"] else ""
        warnings.append(f"impact rate {impact['newest_rate']:.1%}{weighted} in {newest_period} "
                        f"is outside its 90% interval around the history's {history_rate:.1%}")
    return {"newest_period": newest_period, "features": rows, "impact": impact,
            "selected": selected,
            "warnings": warnings, "chance_level": CHANCE_LEVEL,
            # one test per feature, and one more on the missing share where values are missing
            "expected_by_chance": CHANCE_LEVEL * sum(
                1 + (r["missing_history"] > 0 or r["missing_newest"] > 0) for r in rows)}

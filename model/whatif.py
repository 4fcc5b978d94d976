"""What a reviewer wants next to a score: what would raise it, what past outcomes say, what to doubt.

- `suggest_changes` tries realistic changes to the negotiable (actionable) fields of
  each proposal and keeps the one or two that raise the model's probability most;
  every "after" probability is the model's own answer for the changed proposal.
  The sentences that go with reasons and flags live in `model.wording`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column, Config
from model.explain import explain
from model.features import FeatureSpec
from model.scorer import ScoringModel
from model.wording import describe

MIN_GAIN = 0.005  # half a probability point: smaller changes are noise to a reader
FTE_STEPS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Suggestion:
    """One change to a negotiable field, and the model's probability before and after it."""

    feature: str
    value: Any
    change: str  # the new value in the team's words: "Has an action plan"
    current: str  # the present value in the same words: "No action plan"
    before: float
    after: float

    @property
    def gain(self) -> float:
        """Probability points gained (as a fraction)."""
        return self.after - self.before


def _bounds(column: Column, spec: FeatureSpec) -> tuple[float, float]:
    """Where a suggested value may go: the training range, within the contract's limits."""
    low = spec.low if math.isfinite(spec.low) else (column.min if column.min is not None else -math.inf)
    high = spec.high if math.isfinite(spec.high) else (column.max if column.max is not None else math.inf)
    return low, high


def _numeric_candidates(column: Column, spec: FeatureSpec, value: float | None) -> list[float]:
    raise_it, lower_it = column.monotone >= 0, column.monotone <= 0
    out: list[float] = []
    if column.type == "integer":
        if value is None:
            return []
        low, high = _bounds(column, spec)
        if raise_it:
            out += [float(v) for v in range(int(value) + 1, int(min(high, value + 4)) + 1)]
        if lower_it:
            out += [float(v) for v in range(int(value) - 1, int(max(low, value - 4)) - 1, -1)]
        return out
    if raise_it:
        doubled = () if value is None else (2 * value,)
        out += [v for v in (*FTE_STEPS, *doubled) if value is None or v > value]
    if lower_it and value:
        half = value / 2
        out.append(float(round(half)) if half >= 4 else round(half, 2))  # "30 hours", not "30.25"
    low, high = _bounds(column, spec)
    return sorted({v for v in out if low <= v <= high and v != value})


def candidate_values(column: Column, spec: FeatureSpec, value: Any) -> list[Any]:
    """Values worth trying for one negotiable field, in the direction the config declares."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if column.type == "boolean":
        wanted = {1: [1.0], -1: [0.0]}.get(column.monotone, [1.0, 0.0])
        return [v for v in wanted if missing or v != float(value)]
    if column.is_numeric:
        return _numeric_candidates(column, spec, None if missing else float(value))
    levels = column.values or spec.levels
    return [level for level in levels if level != value]


def _variants(model: ScoringModel, config: Config,
              proposals: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, str, Any]]]:
    """Every proposal once per candidate change, and which (row, feature, value) each row is."""
    specs = {s.name: s for s in model.encoder.specs_}
    changes: list[tuple[int, str, Any]] = []
    for column in config.features:
        if not column.actionable or column.name not in specs:
            continue
        values = proposals[column.name] if column.name in proposals else pd.Series([None] * len(proposals))
        for i, value in enumerate(values.tolist()):
            changes += [(i, column.name, v) for v in candidate_values(column, specs[column.name], value)]
    frame = proposals.iloc[[i for i, _, _ in changes]].copy()
    columns = config.by_name
    for name in {f for _, f, _ in changes} - set(frame.columns):  # optional columns left out of the file
        numeric = columns[name].is_numeric or columns[name].type == "boolean"
        frame[name] = pd.Series(np.nan, index=frame.index, dtype=float if numeric else object)
    for j, (_, feature, value) in enumerate(changes):
        frame.iat[j, frame.columns.get_loc(feature)] = value
    return frame.reset_index(drop=True), changes


def suggest_changes(model: ScoringModel, config: Config, proposals: pd.DataFrame, *, limit: int = 2,
                    min_gain: float = MIN_GAIN) -> list[list[Suggestion]]:
    """Per proposal, the `limit` changes (one per field) that raise its probability most.

    An empty list means no realistic change to a negotiable field helps.
    """
    before = explain(model, proposals).probability
    frame, changes = _variants(model, config, proposals)
    if not changes:
        return [[] for _ in range(len(proposals))]
    after = explain(model, frame).probability
    best: dict[tuple[int, str], tuple[float, Any]] = {}
    for (i, feature, value), p in zip(changes, after, strict=True):
        if p - before[i] >= min_gain and p > best.get((i, feature), (-1.0, None))[0]:
            best[(i, feature)] = (float(p), value)
    columns = config.by_name
    result: list[list[Suggestion]] = [[] for _ in range(len(proposals))]
    for (i, feature), (p, value) in best.items():
        now = proposals.iloc[i].get(feature)
        result[i].append(Suggestion(feature, value, describe(columns[feature], value),
                                    describe(columns[feature], now), float(before[i]), p))
    return [sorted(r, key=lambda s: -s.gain)[:limit] for r in result]

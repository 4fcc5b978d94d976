"""What a reviewer wants next to a score: what would raise it, what past outcomes say, what to doubt.

- `suggest_changes` tries realistic changes to the negotiable (actionable) fields of
  each proposal and keeps the one or two that raise the model's probability most;
  every "after" probability is the model's own answer for the changed proposal.
- `evidence_note` states the training outcomes behind a category or boolean reason.
- `flag_note` says in words why a proposal's score deserves less trust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column
from model.explain import describe, explain
from model.features import FeatureSpec
from pipelines.storage.bundle import Bundle

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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
    missing = _is_missing(value)
    if column.type == "boolean":
        wanted = {1: [1.0], -1: [0.0]}.get(column.monotone, [1.0, 0.0])
        return [v for v in wanted if missing or v != float(value)]
    if column.is_numeric:
        return _numeric_candidates(column, spec, None if missing else float(value))
    levels = column.values or spec.levels
    return [level for level in levels if level != value]


def _variants(bundle: Bundle, proposals: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, str, Any]]]:
    """Every proposal once per candidate change, and which (row, feature, value) each row is."""
    specs = {s.name: s for s in bundle.model.encoder.specs_}
    changes: list[tuple[int, str, Any]] = []
    for column in bundle.config.features:
        if not column.actionable or column.name not in specs:
            continue
        values = proposals[column.name] if column.name in proposals else pd.Series([None] * len(proposals))
        for i, value in enumerate(values.tolist()):
            changes += [(i, column.name, v) for v in candidate_values(column, specs[column.name], value)]
    frame = proposals.iloc[[i for i, _, _ in changes]].copy()
    columns = bundle.config.by_name
    for name in {f for _, f, _ in changes} - set(frame.columns):  # optional columns left out of the file
        numeric = columns[name].is_numeric or columns[name].type == "boolean"
        frame[name] = pd.Series(np.nan, index=frame.index, dtype=float if numeric else object)
    for j, (_, feature, value) in enumerate(changes):
        frame.iat[j, frame.columns.get_loc(feature)] = value
    return frame.reset_index(drop=True), changes


def suggest_changes(bundle: Bundle, proposals: pd.DataFrame, *, limit: int = 2,
                    min_gain: float = MIN_GAIN) -> list[list[Suggestion]]:
    """Per proposal, the `limit` changes (one per field) that raise its probability most.

    An empty list means no realistic change to a negotiable field helps.
    """
    before = explain(bundle.model, proposals).probability
    frame, changes = _variants(bundle, proposals)
    if not changes:
        return [[] for _ in range(len(proposals))]
    after = explain(bundle.model, frame).probability
    best: dict[tuple[int, str], tuple[float, Any]] = {}
    for (i, feature, value), p in zip(changes, after, strict=True):
        if p - before[i] >= min_gain and p > best.get((i, feature), (-1.0, None))[0]:
            best[(i, feature)] = (float(p), value)
    columns = bundle.config.by_name
    result: list[list[Suggestion]] = [[] for _ in range(len(proposals))]
    for (i, feature), (p, value) in best.items():
        now = proposals.iloc[i].get(feature)
        result[i].append(Suggestion(feature, value, describe(columns[feature], value),
                                    describe(columns[feature], now), float(before[i]), p))
    return [sorted(r, key=lambda s: -s.gain)[:limit] for r in result]


def _evidence_key(column: Column, value: Any) -> str:
    if _is_missing(value):
        return "missing"
    if column.type == "boolean":
        return "true" if bool(value) else "false"
    return str(value)


def evidence_note(bundle: Bundle, feature: str, value: Any) -> str | None:
    """Past outcomes behind a category or boolean reason, in words; None for numbers.

    e.g. "impact in 13 of 303 past proposals with “No action plan”, 51 of 177 with
    “Has an action plan”".
    """
    counts = bundle.training.get("evidence", {}).get(feature)
    column = bundle.config.by_name.get(feature)
    if not counts or column is None:
        return None
    key = _evidence_key(column, value)
    n, k = counts.get(key, [0, 0])
    this = f"“{describe(column, value)}”"
    if n == 0:
        return f"no past proposal with {this}"
    if column.type == "boolean" and key != "missing":
        other = "false" if key == "true" else "true"
        m, j = counts.get(other, [0, 0])
        that = f"“{describe(column, other == 'true')}”"
        return f"impact in {k} of {n} past proposals with {this}, {j} of {m} with {that}"
    m = sum(c[0] for c in counts.values()) - n
    j = sum(c[1] for c in counts.values()) - k
    return f"impact in {k} of {n} past proposals with {this}, {j} of {m} for all others"


def _spec(bundle: Bundle, feature: str) -> FeatureSpec | None:
    return next((s for s in bundle.model.encoder.specs_ if s.name == feature), None)


def _plain(value: float) -> str:
    """A number as explanations write it: '9 000 000', '0.25'."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", " ")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _range(spec: FeatureSpec | None) -> str:
    if spec is None or not math.isfinite(spec.low):
        return ""
    return f" ({_plain(spec.low)} to {_plain(spec.high)})"


def flag_note(bundle: Bundle, flag: dict[str, Any]) -> tuple[str, str]:
    """A short tag and a sentence for a flag from `score_batch`: why to trust the score less."""
    column = bundle.config.by_name.get(flag["feature"])
    label = column.label if column else flag["feature"]
    value = flag.get("value")
    if flag["kind"] == "novel_category":
        return (f"{label}: new value",
                f"{label}: “{str(value).replace('_', ' ')}” never appeared in the training data; "
                "the model treats it like the rare values it grouped as “other”.")
    if flag["kind"] == "outside_training_range":
        return (f"{label}: out of range",
                f"{label}: {_plain(float(flag['value']))} is outside the values seen in training"
                f"{_range(_spec(bundle, flag['feature']))}; the model extrapolates.")
    return (f"{label}: missing",
            f"{label}: not given; the model relies on this field and uses what a missing value "
            "meant in the training data.")

"""Improbable alliances: pairs of values whose outcomes beat what the main effects predict.

The scoring model learns one effect per feature, so a combination that pays off far
beyond its parts (an independent game studio asking for a technical integration) is
never learned. For each cell of a watched pair of features (partner sector x
partnership type, ...) with at least `min_rows` proposals, this module compares the
real impact observed with what a main-effects model expected for those same proposals,
scored out of fold so that no proposal grades itself:

- observed and expected: sums of outcomes and of expected probabilities, each row
  weighted by 1 / acceptance propensity when weights are given (the accept-everything
  population); their ratio with a Fay-Feuer gamma interval (Garwood's exact Poisson
  interval when unweighted), the expected count taken as known;
- evidence: -log10 of the one-sided probability of at least as many real impacts (at
  most as many, for cells doing worse) if each proposal succeeded with its expected
  probability: the exact Poisson-binomial tail. It counts the rows as observed, since
  acceptance depends only on what a proposal says and so leaves each accepted
  proposal's chance as expected;
- expected_by_chance: how many tested cells, in either direction, would reach that
  evidence if every proposal followed its expectation: the sum over cells of each
  one's exact chance of it. A small cell that cannot reach the evidence adds nothing,
  and the sum is exact however cells of different pairs overlap.

Strong cells are the longest run of top-ranked cells whose expected_by_chance is at
most `false_alarm_rate` times their rank (Benjamini-Hochberg's step-up on these
counts): at most about that share of strong cells is chance, and with nothing to find,
at most about that share of histories shows any. The expectations come from effects
learned partly on each cell's own rows, which narrows the gap between observed and
expected: the counts err on the quiet side (bench/results/surprises.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.config import Column, Config
from model.pairs import value_labels
from model.validation import ContractError, Problem

if TYPE_CHECKING:
    from model.selection import TrainingData

DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (
    ("partner_sector", "partnership_type"),
    ("partner_sector", "lifecycle_position"),
    ("partnership_type", "lifecycle_position"),
)
# `interactions:` entries of two number or boolean columns (a plan is worth more with
# people to carry it out) are learned as one product term instead of cells: they have no
# cells for this report to rank.
DEFAULT_PRODUCTS: tuple[tuple[str, str], ...] = (
    ("has_action_plan", "partner_committed_fte"),
)
WATCHABLE_TYPES = ("category", "open_category", "ordinal")
PRODUCT_TYPES = ("boolean", "integer", "number")
_TINY = 1e-300  # tails below this print as evidence 300


@dataclass(frozen=True)
class SurpriseSettings:
    """Which pairs of features to watch and when a cell is reported or called strong.

    `pairs` are the watched pairs of categories (their cells are ranked and learned);
    `products` the pairs of numbers or booleans learned as a product term.
    """

    pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS
    products: tuple[tuple[str, str], ...] = DEFAULT_PRODUCTS
    min_rows: int = 10
    false_alarm_rate: float = 0.1
    interval: float = 0.9


@dataclass(frozen=True)
class Cell:
    """One pair of values, its outcomes against the main-effects expectation."""

    features: tuple[str, str]
    values: tuple[str, str]
    rows: int
    observed: float
    expected: float
    ratio: float
    interval: tuple[float, float]
    evidence: float
    expected_by_chance: float
    strong: bool = False
    labels: tuple[str, str] | None = None  # the two columns' labels
    value_labels: tuple[str, str] | None = None  # the two values as people read them

    def to_json(self) -> dict[str, Any]:
        """The cell as the surprises JSON document holds it."""
        out: dict[str, Any] = {
            "features": list(self.features), "values": list(self.values), "rows": self.rows,
            "observed": self.observed, "expected": self.expected, "ratio": self.ratio,
            "interval": list(self.interval), "evidence": self.evidence,
            "expected_by_chance": self.expected_by_chance, "strong": self.strong}
        if self.labels is not None:
            out["labels"] = list(self.labels)
        if self.value_labels is not None:
            out["value_labels"] = list(self.value_labels)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        """The cell `to_json` wrote."""
        labels, value_labels = data.get("labels"), data.get("value_labels")
        return cls(_two(data["features"]), _two(data["values"]), int(data["rows"]),
                   float(data["observed"]), float(data["expected"]), float(data["ratio"]),
                   (float(data["interval"][0]), float(data["interval"][1])),
                   float(data["evidence"]), float(data["expected_by_chance"]),
                   bool(data["strong"]), None if labels is None else _two(labels),
                   None if value_labels is None else _two(value_labels))


@dataclass(frozen=True)
class SurpriseReport:
    """Cells doing better than expected and cells doing worse, each strongest first."""

    cells: tuple[Cell, ...]
    worse: tuple[Cell, ...]
    tested: int  # cells with enough rows, in both lists

    @property
    def strong(self) -> tuple[Cell, ...]:
        """The cells doing better than expected that are called strong."""
        return tuple(c for c in self.cells if c.strong)

    def to_json(self) -> dict[str, Any]:
        """The surprises JSON document."""
        return {"cells": [c.to_json() for c in self.cells],
                "worse": [c.to_json() for c in self.worse]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], tested: int) -> SurpriseReport:
        """The report whose `to_json` document is `data`, with its count of tested cells."""
        return cls(tuple(Cell.from_json(c) for c in data["cells"]),
                   tuple(Cell.from_json(c) for c in data["worse"]), int(tested))


def _two(values: Sequence[Any]) -> tuple[str, str]:
    first, second = values
    return str(first), str(second)


@dataclass(frozen=True)
class _Tested:
    """A cell's figures and the exact null distribution of its count of real impacts."""

    cell: Cell
    better: bool
    pmf: np.ndarray  # P(count == k) under the expectation, k = 0..rows
    upper: np.ndarray  # evidence of a count >= k
    lower: np.ndarray  # evidence of a count <= k


def find_surprises(proposals: pd.DataFrame, outcomes: np.ndarray, expected: np.ndarray,
                   settings: SurpriseSettings, *, weights: np.ndarray | None = None,
                   columns: Mapping[str, Column] | None = None) -> SurpriseReport:
    """Rank the cells of the watched pairs by how far their outcomes beat the expectation.

    Args:
        proposals: validated labelled proposals holding every watched column.
        outcomes: real impact of each proposal, 0 or 1.
        expected: each proposal's out-of-fold probability of real impact from a
            main-effects model.
        weights: inverse acceptance propensities (default: all 1).
        columns: the declared columns by name: each cell gets their labels and its
            values' (`level_labels`) as people read them.

    Raises:
        ContractError: when a watched column is absent from the proposals.
    """
    y, p, w = _checked(proposals, outcomes, expected, weights, settings)
    tested = [_test(pair, values, rows, y, p, w, settings.interval, columns)
              for pair in settings.pairs
              for values, rows in _cell_rows(proposals, pair, settings.min_rows)]
    chance = _chance_counter(tested)
    ranked = sorted(((replace(t.cell, expected_by_chance=chance(t.cell.evidence)), t.better)
                     for t in tested), key=_rank_key)
    strong = _strong_count([c.expected_by_chance for c, _ in ranked], settings.false_alarm_rate)
    final = [(replace(c, strong=i < strong), better) for i, (c, better) in enumerate(ranked)]
    return SurpriseReport(cells=tuple(c for c, better in final if better),
                          worse=tuple(c for c, better in final if not better),
                          tested=len(tested))


def _checked(proposals: pd.DataFrame, outcomes: np.ndarray, expected: np.ndarray,
             weights: np.ndarray | None,
             settings: SurpriseSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes, clipped expectations and weights as float arrays aligned with the rows."""
    n = len(proposals)
    y = np.asarray(outcomes, dtype=float)
    p = np.asarray(expected, dtype=float)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if not (len(y) == len(p) == len(w) == n and np.isin(y, (0.0, 1.0)).all()
            and ((p >= 0) & (p <= 1)).all() and (np.isfinite(w) & (w > 0)).all()):
        raise ValueError(f"{n} proposals need as many outcomes (0 or 1), expectations "
                         "(in [0, 1]) and weights (positive)")
    missing = sorted({c for pair in settings.pairs for c in pair} - set(proposals.columns))
    if missing:
        raise ContractError([Problem(None, c, "", "this column (a watched pair of surprises)")
                             for c in missing])
    # A certain expectation would make any other outcome infinitely surprising.
    return y, np.clip(p, 1e-9, 1 - 1e-9), w


def _cell_rows(proposals: pd.DataFrame, pair: tuple[str, str],
               min_rows: int) -> list[tuple[tuple[str, str], np.ndarray]]:
    """Positions of the rows of each cell with enough rows; rows missing a value are left out."""
    frame = pd.DataFrame({"a": proposals[pair[0]].to_numpy(object),
                          "b": proposals[pair[1]].to_numpy(object)})
    groups = frame.groupby(["a", "b"], sort=True, dropna=True).indices
    return [((str(a), str(b)), np.asarray(rows)) for (a, b), rows in groups.items()
            if len(rows) >= min_rows]


def _test(pair: tuple[str, str], values: tuple[str, str], rows: np.ndarray, y: np.ndarray,
          p: np.ndarray, w: np.ndarray, level: float,
          columns: Mapping[str, Column] | None) -> _Tested:
    """One cell's figures, its direction and the null distribution of its count."""
    observed, expected = float(w[rows] @ y[rows]), float(w[rows] @ p[rows])
    pmf = poisson_binomial(p[rows])
    upper = _evidence(np.cumsum(pmf[::-1])[::-1])
    lower = _evidence(np.cumsum(pmf))
    count, better = int(y[rows].sum()), observed >= expected
    labels, value_labels = _labelled(pair, values, columns)
    cell = Cell(features=pair, values=values, rows=len(rows), observed=observed,
                expected=expected, ratio=observed / expected,
                interval=ratio_interval(y[rows], w[rows], expected, level),
                evidence=float(upper[count] if better else lower[count]),
                expected_by_chance=float("nan"), labels=labels, value_labels=value_labels)
    return _Tested(cell, better, pmf, upper, lower)


def _labelled(pair: tuple[str, str], values: tuple[str, str],
              columns: Mapping[str, Column] | None
              ) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """A cell's `labels` and `value_labels` from the declared columns (none without them)."""
    if columns is None:
        return None, None
    first, second = (columns.get(name) for name in pair)
    return ((first.label if first else pair[0], second.label if second else pair[1]),
            value_labels(pair, values, columns))


def poisson_binomial(probabilities: np.ndarray) -> np.ndarray:
    """P(K == k) for k = 0..n, K the number of successes of independent Bernoulli trials.

    Exact, by adding one trial at a time: O(n^2) for a cell of n rows.
    """
    pmf = np.zeros(len(probabilities) + 1)
    pmf[0] = 1.0
    for j, q in enumerate(probabilities):
        pmf[1:j + 2] = pmf[1:j + 2] * (1 - q) + pmf[:j + 1] * q
        pmf[0] *= 1 - q
    return pmf


def count_quantile(probabilities: Sequence[float] | np.ndarray, q: float) -> int:
    """The q-quantile of how many of these independent trials succeed (`poisson_binomial`):
    the smallest count whose cumulative probability reaches q."""
    law = poisson_binomial(np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0))
    return int(np.searchsorted(np.cumsum(law), q - 1e-12))


def _evidence(tail: np.ndarray) -> np.ndarray:
    """-log10 of tail probabilities, never below 0 (rounding can push a sure tail above 1)."""
    return np.maximum(-np.log10(np.clip(tail, _TINY, None)), 0.0)


def ratio_interval(y: np.ndarray, w: np.ndarray, expected: float,
                   level: float) -> tuple[float, float]:
    """Fay and Feuer's gamma interval for a weighted count, divided by the expected count.

    Unweighted it is Garwood's exact Poisson interval; with probabilities well above a
    few percent the Poisson variance exceeds the Bernoulli one, so it errs on the wide side.
    """
    from scipy.special import gammaincinv  # scipy stays off the configuration's import path

    alpha = (1 - level) / 2
    total, variance, top = float(w @ y), float((w**2) @ y), float(w.max())
    low = 0.0 if total == 0 else float(gammaincinv(total**2 / variance, alpha)) * variance / total
    shape, scale = (total + top) ** 2 / (variance + top**2), (variance + top**2) / (total + top)
    high = float(gammaincinv(shape, 1 - alpha)) * scale
    return low / expected, high / expected


def _chance_counter(tested: Sequence[_Tested]) -> Callable[[float], float]:
    """evidence -> expected number of cells reaching it by chance, in either direction."""
    if not tested:
        return lambda evidence: 0.0
    values = np.concatenate([np.concatenate([t.upper, t.lower]) for t in tested])
    chances = np.concatenate([np.concatenate([t.pmf, t.pmf]) for t in tested])
    order = np.argsort(values, kind="stable")
    values = values[order]
    at_least = np.append(np.cumsum(chances[order][::-1])[::-1], 0.0)

    def expected_by_chance(evidence: float) -> float:
        # The cell's own tail is one of `values`: the tolerance keeps it counted.
        return float(at_least[np.searchsorted(values, evidence - 1e-9, side="left")])

    return expected_by_chance


def _rank_key(item: tuple[Cell, bool]) -> tuple[float, float, int, tuple[str, ...]]:
    """Strongest evidence first; ties broken by how far the ratio is from 1, then size."""
    cell = item[0]
    distance = abs(float(np.log(max(cell.ratio, 1e-12))))
    return (-cell.evidence, -distance, -cell.rows, (*cell.features, *cell.values))


def _strong_count(expected_by_chance: Sequence[float], rate: float) -> int:
    """How many top-ranked cells are strong: the largest r with chance(r) <= rate * r."""
    chance = np.asarray(expected_by_chance, dtype=float)
    passing = np.flatnonzero(chance <= rate * np.arange(1, len(chance) + 1))
    return int(passing[-1]) + 1 if passing.size else 0


def expected_impact(data: TrainingData, config: Config, *, seed: int = 0) -> np.ndarray:
    """Each proposal's out-of-fold probability of real impact from the logistic candidate.

    The logistic candidate is the project's main-effects model (trees would learn part of
    the very combinations looked for). Its regularisation is chosen among
    `model.logistic_c` by calibrated out-of-fold log loss, or is the strongest one on
    little data, as in training; probabilities are Platt-calibrated on the margins.
    """
    from model.calibration import sigmoid
    from model.estimators import CandidateSpec
    from model.metrics import log_loss
    from model.selection import calibrate, candidates_for, out_of_fold_margins

    specs = [CandidateSpec("logistic", {"C": float(c)}) for c in config.model.logistic_c]
    specs, _ = candidates_for(data, specs, config)
    scored = []
    for spec in specs:
        margins = out_of_fold_margins(spec, data, config, repeats=1, seed=seed)
        probability = sigmoid(calibrate(margins, data).logit(margins[0]))
        scored.append((log_loss(data.y, probability, data.weights), probability))
    return min(scored, key=lambda item: item[0])[1]


def surprises_for(proposals: pd.DataFrame, config: Config, settings: SurpriseSettings, *,
                  seed: int = 0) -> SurpriseReport:
    """The surprises report of validated labelled proposals, expectations included.

    A watched column the configuration declares but the proposals lack (an optional one
    left out of the file) is missing in every proposal, as the data contract reads it: its
    pairs have no cell to test.

    Raises:
        TrainingRefused: when the outcomes cannot support a main-effects model.
        ContractError: when a watched column is not a column of the configuration.
    """
    from model.selection import prepare

    data = prepare(proposals, config)
    absent = {c for pair in settings.pairs for c in pair} - set(data.proposals.columns)
    frame = data.proposals.assign(**{c: None for c in sorted(absent) if c in config.by_name})
    return find_surprises(frame, data.y, expected_impact(data, config, seed=seed),
                          settings, weights=data.scoring_weights,
                          columns=config.by_name)


def pair_kind(pair: Sequence[str], columns: Mapping[str, Column]) -> str | None:
    """"cells" for two declared category columns, "product" for two number or boolean
    columns, None otherwise (see `pair_problems`)."""
    types = [columns[name].type if name in columns else None for name in pair]
    if all(t in WATCHABLE_TYPES for t in types):
        return "cells"
    if all(t in PRODUCT_TYPES for t in types):
        return "product"
    return None


def pair_problems(pairs: Sequence[Sequence[str]], columns: Mapping[str, Column]) -> list[str]:
    """What is wrong with watched pairs (for `interactions:` in the configuration), if anything."""
    problems = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2 or pair[0] == pair[1]:
            problems.append(f"interactions: expected two different column names, got {pair!r}")
        elif pair_kind(pair, columns) is None:
            problems.append(f"interactions: expected two declared columns of type "
                            f"{', '.join(WATCHABLE_TYPES)} (cells), or two of type "
                            f"{', '.join(PRODUCT_TYPES)} (a product), got {list(pair)!r}")
    return problems

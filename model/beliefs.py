"""What a team believes about its proposals, turned into a Gaussian prior over the model's columns.

A team that ran one trial month has a few dozen outcomes but knows which way several
fields push: an action plan helps, heavy logistics hurt. A `Belief` states that, with
how sure the team is; `build_prior` turns beliefs into a prior mean and scale for every
encoded column, which `model.bayes` combines with the outcomes.

Units. Every belief is stated in log-odds for a *typical change* of its feature:
from false to true for a 0/1 column (booleans, category levels, missing flags), and
across two standard deviations of the encoded value for a number, an ordinal code or
a log-count (two standard deviations of a balanced 0/1 column is exactly 1). So one
strength is the same amount of evidence whatever the column's units, and a believed
effect of 0.5 means "about half a unit of log-odds between a weak and a strong
proposal on this field".

Strengths are prior standard deviations in those units (`STRENGTHS`); a belief's prior
mean is its direction times its believed effect (`BELIEVED_EFFECT` by default), so a
`moderate` belief gives the opposite sign a prior chance of about one in four: the data
can contradict it, and the verdicts in `model.bayes` say when they do. `strict` makes a
direction a hard constraint instead. The defaults were tuned on simulated trial months
(bench/cold_start.py): strong enough to rank well from one month, weak enough that
three hundred labelled proposals overturn a wrong belief.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.config import Column, ConfigError
from model.features import FeatureEncoder, FeatureSpec

# Prior standard deviation of a believed effect, in log-odds per typical change. A
# `moderate` belief gives the opposite sign a prior chance of about one in four, so that
# three hundred labelled proposals overturn a wrong one (bench/results/cold_start.md).
STRENGTHS: Mapping[str, float] = {"weak": 1.5, "moderate": 0.7, "strong": 0.35}
DEFAULT_STRENGTH = "moderate"
# The believed size of an effect when the team states only its direction.
BELIEVED_EFFECT = 0.5
# Prior standard deviation of columns nobody holds a belief about: the shrinkage of the
# most regularised logistic candidate (C = 0.03 on balanced 0/1 columns), which keeps a
# one-hot level that met two positives by chance from dominating the score.
UNBELIEVED_SCALE = 0.35
# The intercept is the log-odds of the average proposal; its prior is centred on the
# observed base rate, wide, and only keeps it finite when one outcome is very rare.
INTERCEPT_SCALE = 1.5
BINARY_KINDS = ("boolean", "category", "pair")


@dataclass(frozen=True)
class Belief:
    """What a team believes about one feature.

    Attributes:
        feature: the configured feature's name.
        direction: +1 raises the chance of real impact, -1 lowers it, 0 no stated
            direction (the belief then only sets how large its effect may be).
        strength: `weak`, `moderate`, `strong` (see `STRENGTHS`) or a prior standard
            deviation in log-odds per typical change.
        levels: for a category, level -> +1 (favourable) or -1 (unfavourable),
            e.g. {"upstream": 1, "downstream": 1, "same_stage": -1}.
        strict: the direction is a hard constraint (the effect can be zero, never
            of the other sign), as `monotone` acted before beliefs had strengths.
        effect: the believed size, in log-odds per typical change.
    """

    feature: str
    direction: int = 0
    strength: str | float = DEFAULT_STRENGTH
    levels: Mapping[str, int] = field(default_factory=dict)
    strict: bool = False
    effect: float = BELIEVED_EFFECT

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[str]:
        """What is wrong with the belief on its own (empty when it is well formed)."""
        where = f"belief on {self.feature}"
        problems = []
        if self.direction not in (-1, 0, 1):
            problems.append(f"{where}: direction must be 1 (increasing), -1 (decreasing) "
                            f"or 0, got {self.direction!r}")
        if isinstance(self.strength, str) and self.strength not in STRENGTHS:
            problems.append(f"{where}: strength must be one of {', '.join(STRENGTHS)} or a "
                            f"positive number, got {self.strength!r}")
        elif not isinstance(self.strength, str) and not float(self.strength) > 0:
            problems.append(f"{where}: strength must be a positive number, got {self.strength!r}")
        bad = {k: v for k, v in self.levels.items() if v not in (-1, 1)}
        if bad:
            problems.append(f"{where}: each level must be 1 (favourable) or -1 "
                            f"(unfavourable), got {bad}")
        if self.levels and (self.direction or self.strict):
            problems.append(f"{where}: levels and a direction (or strict) cannot be combined; "
                            "a category's levels have no order")
        if not self.effect > 0:
            problems.append(f"{where}: effect must be a positive number, got {self.effect!r}")
        return problems

    @property
    def scale(self) -> float:
        """The prior standard deviation, log-odds per typical change."""
        return STRENGTHS[self.strength] if isinstance(self.strength, str) else float(self.strength)


@dataclass(frozen=True)
class BeliefTarget:
    """One effect to check against the data: a believed one, or one nobody stated (`sign` 0).

    `contrast` weights the standardised coefficients (one per encoded column) so that
    `contrast @ coefficients` is the effect: a column's effect per typical change, or a
    category level's contribution relative to the average training proposal (exactly
    what the explanation shows for a proposal at that level). `strength`, `scale` and
    `believed_effect` repeat the belief's prior for the verdict's report.
    """

    feature: str
    level: str | None
    sign: int
    contrast: np.ndarray
    strict: bool = False
    strength: str | float = DEFAULT_STRENGTH
    scale: float = UNBELIEVED_SCALE
    believed_effect: float = 0.0

    @property
    def name(self) -> str:
        """`feature` or `feature=level`."""
        return self.feature if self.level is None else f"{self.feature}={self.level}"


@dataclass(frozen=True)
class Prior:
    """A Gaussian prior over standardised coefficients: one per encoded column, plus the intercept.

    A column's standardised coefficient is its effect per typical change: the raw
    coefficient times `unit`. The intercept is the log-odds at `center`, the average
    training proposal. `sign` is +1 or -1 where a strict belief bounds a coefficient.
    `targets` are the believed effects to give verdicts on; `others` the features and
    category levels without a stated direction, whose effect the data may still show.
    """

    columns: tuple[str, ...]
    center: np.ndarray
    unit: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    sign: np.ndarray
    intercept_mean: float
    intercept_scale: float
    targets: tuple[BeliefTarget, ...] = ()
    others: tuple[BeliefTarget, ...] = ()  # effects nobody stated a direction for
    pooled: tuple[tuple[str, int, int], ...] = ()  # (pair, first, last + 1) column of each pair

    @property
    def pooled_columns(self) -> np.ndarray:
        """Whether each column is a pair's cell, whose prior scale the data sets."""
        mask = np.zeros(len(self.columns), dtype=bool)
        for _, start, stop in self.pooled:
            mask[start:stop] = True
        return mask


def default_beliefs(features: Sequence[Column]) -> tuple[Belief, ...]:
    """The beliefs the configuration declares: each `monotone` direction and each `belief:` option.

    A direction without `belief:` options is a `moderate`, non-strict belief of size
    `BELIEVED_EFFECT`; `belief:` sets its strength, size or strictness, or the levels
    of a category.
    """
    out = []
    for column in features:
        options = column.belief
        if not (column.monotone or options.levels or options.strength is not None
                or options.effect is not None):
            continue
        out.append(Belief(column.name, direction=column.monotone,
                          strength=DEFAULT_STRENGTH if options.strength is None else options.strength,
                          levels=dict(options.levels), strict=options.strict,
                          effect=BELIEVED_EFFECT if options.effect is None else options.effect))
    return tuple(out)


def check_beliefs(beliefs: Sequence[Belief], features: Sequence[Column]) -> None:
    """Reject beliefs about unknown features, levels a category cannot take, or misplaced options.

    Raises:
        ConfigError: with every problem found.
    """
    by_name = {c.name: c for c in features}
    problems: list[str] = []
    seen: set[str] = set()
    for belief in beliefs:
        column = by_name.get(belief.feature)
        where = f"belief on {belief.feature}"
        if belief.feature in seen:
            problems.append(f"{where}: stated twice")
        seen.add(belief.feature)
        if column is None:
            problems.append(f"{where}: no feature of that name (features: {', '.join(by_name)})")
            continue
        category = column.type in ("category", "open_category")
        if category and belief.direction:
            problems.append(f"{where}: a category has no order; state levels instead of a direction")
        if belief.levels and not category:
            problems.append(f"{where}: levels apply to category columns only; "
                            "for an ordinal or a number state a direction")
        unknown = sorted(set(belief.levels) - set(column.values)) if column.type == "category" else []
        if unknown:
            problems.append(f"{where}: unknown level(s) {', '.join(unknown)} "
                            f"(values: {', '.join(column.values)})")
    if problems:
        raise ConfigError(problems)


def effective_weights(n: int, sample_weight: np.ndarray | None) -> np.ndarray:
    """Sample weights rescaled to total Kish's effective sample size (all ones when none).

    Weights state each row's relative importance; rescaled, a weighted history never
    counts as more evidence than its effective number of rows.
    """
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float)
    return w * (w.sum() / (w**2).sum()) if n else w


def column_units(encoder: FeatureEncoder, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The typical change of each encoded column: 1 for 0/1 columns, two standard deviations otherwise.

    A number whose training values do not vary gets 1: its effect cannot be learned and
    its belief is not applied (see `build_prior`).
    """
    mean = np.average(X, axis=0, weights=weights)
    spread = 2.0 * np.sqrt(np.average((X - mean) ** 2, axis=0, weights=weights))
    binary = np.zeros(X.shape[1], dtype=bool)
    for spec, block in _blocks(encoder):
        binary[block] = spec.kind in BINARY_KINDS
        binary[block.stop - 1] |= spec.indicator  # the missing flag closes the block
    return np.where(binary, 1.0, np.where(spread > 1e-12, spread, 1.0))


def _blocks(encoder: FeatureEncoder) -> list[tuple[FeatureSpec, slice]]:
    """Each fitted feature with the slice of encoded columns it owns."""
    out, start = [], 0
    for spec in encoder.specs_:
        width = len(spec.columns)
        out.append((spec, slice(start, start + width)))
        start += width
    return out


def build_prior(beliefs: Sequence[Belief], encoder: FeatureEncoder, X: np.ndarray,
                y: np.ndarray, sample_weight: np.ndarray | None = None) -> Prior:
    """The prior for a fitted encoder's columns, from beliefs and the training rows' spread and base rate.

    Columns without a belief (other levels, missing flags, unbelieved features) get a
    zero-mean prior of scale `UNBELIEVED_SCALE`. A level belief whose level was too
    rare to get its own column is left out (its verdict would have no evidence). A
    pair's cells get a zero-mean prior whose scale `model.bayes` estimates from the data
    (`pooled`); they are not centred, so a cell's term is its own effect, zero for a
    proposal outside it.
    """
    check_beliefs(beliefs, encoder.features)
    w = effective_weights(len(y), sample_weight)
    center = np.average(X, axis=0, weights=w) if len(y) else np.zeros(X.shape[1])
    varies = np.ptp(X, axis=0) > 0 if len(X) else np.zeros(X.shape[1], dtype=bool)
    mean = np.zeros(X.shape[1])
    scale = np.full(X.shape[1], UNBELIEVED_SCALE)
    sign = np.zeros(X.shape[1], dtype=np.int64)
    targets: list[BeliefTarget] = []
    blocks = {spec.name: (spec, block) for spec, block in _blocks(encoder)}
    for belief in beliefs:
        spec, block = blocks[belief.feature]
        for j, level, direction in _believed_columns(belief, spec, block):
            mean[j] = direction * belief.effect if varies[j] else 0.0
            scale[j] = belief.scale
            sign[j] = direction if belief.strict else 0
            if direction:
                targets.append(BeliefTarget(
                    belief.feature, level, direction,
                    _contrast(j, block, level, center, X.shape[1]), strict=belief.strict,
                    strength=belief.strength, scale=belief.scale, believed_effect=belief.effect))
    for spec, block in _blocks(encoder):
        if spec.kind == "product":
            sign[block] = _product_sign(beliefs, spec.pair)
    pooled = tuple((spec.name, block.start, block.stop) for spec, block in _blocks(encoder)
                   if spec.kind == "pair")
    for _, start, stop in pooled:
        center[start:stop] = 0.0
    rate = (float(w @ y) + 0.5) / (float(w.sum()) + 1.0)
    return Prior(columns=tuple(encoder.columns_), center=center, pooled=pooled,
                 unit=column_units(encoder, X, w), mean=mean, scale=scale, sign=sign,
                 intercept_mean=float(np.log(rate / (1 - rate))),
                 intercept_scale=INTERCEPT_SCALE, targets=tuple(targets),
                 others=_unbelieved(encoder, targets, center, scale))


def _product_sign(beliefs: Sequence[Belief], pair: Sequence[str]) -> int:
    """The sign a product's term must keep so that no strict belief about one of its two
    columns is reversed: the other column's encoded values are never negative (checked
    with `interactions:`), so a term of the belief's sign only adds to that column's
    effect. 0 when neither column is strictly believed.

    Raises:
        ConfigError: when the two columns' strict directions are opposite.
    """
    signs = {b.direction for b in beliefs if b.feature in pair and b.strict and b.direction}
    if len(signs) > 1:
        raise ConfigError([f"interactions: {list(pair)!r} has opposite strict directions; "
                           "a product of them could only be zero"])
    return signs.pop() if signs else 0


def _unbelieved(encoder: FeatureEncoder, targets: Sequence[BeliefTarget], center: np.ndarray,
                scale: np.ndarray) -> tuple[BeliefTarget, ...]:
    """An effect to learn for each feature, and each category level with its own column, that
    no belief gives a direction (missing flags and the `other` level are left out)."""
    believed = {(t.feature, t.level) for t in targets}
    out = []
    for spec, block in _blocks(encoder):
        if spec.kind == "pair":  # reported as learned pairs, cell by cell
            continue
        columns: list[tuple[int, str | None]] = [(block.start, None)]
        if spec.kind == "category":
            columns = [(block.start + i, level) for i, level in enumerate(spec.levels)]
        for j, level in columns:
            if (spec.name, level) not in believed:
                out.append(BeliefTarget(spec.name, level, 0,
                                        _contrast(j, block, level, center, len(center)),
                                        scale=float(scale[j])))
    return tuple(out)


def _believed_columns(belief: Belief, spec: FeatureSpec,
                      block: slice) -> list[tuple[int, str | None, int]]:
    """(encoded column, level or None, believed sign) for each column a belief speaks about."""
    if spec.kind != "category":
        return [(block.start, None, belief.direction)]
    index = {level: block.start + i for i, level in enumerate(spec.levels)}
    return [(index[level], level, sign) for level, sign in belief.levels.items() if level in index]


def _contrast(j: int, block: slice, level: str | None, center: np.ndarray, width: int) -> np.ndarray:
    """Weights on standardised coefficients giving the believed effect (see `BeliefTarget`)."""
    contrast = np.zeros(width)
    if level is None:
        contrast[j] = 1.0
        return contrast
    # A level's contribution is its coefficient minus the share-weighted average of the
    # feature's level coefficients: the same quantity explanations report.
    contrast[block] = -center[block]
    contrast[j] += 1.0
    return contrast

"""Beliefs against evidence: the verdict on each belief, and the effects nobody stated.

Small typed records with their own JSON, read by the training report and by
`train --format json`; `model.bayes` computes them from the posterior. Effects are in
log-odds per typical change of the feature (`model.beliefs`); for a category level,
the level's contribution relative to the average training proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["confirmed", "contradicted", "uncertain"]
Direction = Literal["raises", "lowers"]


def verdict(believed: int, low: float, high: float) -> Verdict:
    """`confirmed` when the interval lies on the believed side of zero, `contradicted` on the other."""
    if believed * low > 0 and believed * high > 0:
        return "confirmed"
    if believed * low < 0 and believed * high < 0:
        return "contradicted"
    return "uncertain"


@dataclass(frozen=True)
class BeliefCheck:
    """A belief against the data: its effect in log-odds per typical change, with an interval.

    For a category level, the effect is the level's contribution relative to the average
    training proposal. `believed` is the stated direction (+1 raises the chance of real
    impact, -1 lowers it), `strength` as configured and `scale` its prior standard
    deviation; `believed_effect` the size the team stated.
    """

    feature: str
    level: str | None
    believed: int
    effect: float
    low: float
    high: float
    verdict: Verdict
    strength: str | float = "moderate"
    scale: float = 0.7
    believed_effect: float = 0.5

    @property
    def name(self) -> str:
        """`feature` or `feature=level`."""
        return self.feature if self.level is None else f"{self.feature}={self.level}"

    @property
    def prior(self) -> dict[str, Any]:
        """The belief: direction, strength as configured, prior sd and believed size."""
        return {"direction": self.believed, "strength": self.strength, "sd": self.scale,
                "effect": self.believed_effect}

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high) of the effect."""
        return self.low, self.high

    def to_json(self) -> dict[str, Any]:
        """{feature, level, prior, effect, interval, verdict}, JSON-ready."""
        return {"feature": self.feature, "level": self.level, "prior": self.prior,
                "effect": self.effect, "interval": [self.low, self.high],
                "verdict": self.verdict}


@dataclass(frozen=True)
class LearnedEffect:
    """An effect nobody stated a belief about whose interval lies clearly on one side of zero.

    Same units as `BeliefCheck`; `verdict` says which side: `raises` or `lowers` the
    chance of real impact.
    """

    feature: str
    level: str | None
    effect: float
    low: float
    high: float
    verdict: Direction

    @property
    def name(self) -> str:
        """`feature` or `feature=level`."""
        return self.feature if self.level is None else f"{self.feature}={self.level}"

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high) of the effect."""
        return self.low, self.high

    def to_json(self) -> dict[str, Any]:
        """{feature, level, effect, interval, verdict}, JSON-ready."""
        return {"feature": self.feature, "level": self.level, "effect": self.effect,
                "interval": [self.low, self.high], "verdict": self.verdict}


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval lies wholly on one side of zero (a pair cell is then clear)."""
    return bool(float(low) > 0 or float(high) < 0)


@dataclass(frozen=True)
class LearnedPair:
    """One cell of a watched pair with the term the bayes model learned for it.

    `effect`, `low` and `high` are the cell's own log-odds term and its interval, on top
    of the two features' effects (the interval at `model.bayes.PAIR_LEVEL`); `rows` and
    `observed` are the training proposals in the cell and those with real impact; `clear`
    says the interval excludes zero; `value_labels` are the two values as people read them
    (the configuration's `level_labels`), set by training.
    """

    features: tuple[str, str]
    values: tuple[str, str]
    rows: int
    observed: float
    effect: float
    low: float
    high: float
    level: float  # of the interval (`model.bayes.PAIR_LEVEL`)
    value_labels: tuple[str, str] | None = None

    @property
    def clear(self) -> bool:
        """Whether the outcomes set the cell apart: its interval excludes zero."""
        return excludes_zero(self.low, self.high)

    def to_json(self) -> dict[str, Any]:
        """{features, values, rows, observed, effect, interval, level, clear} and
        value_labels when set, JSON-ready: plain numbers and a JSON boolean (a numpy one
        would be written as the text "False")."""
        labels = {} if self.value_labels is None else {"value_labels": list(self.value_labels)}
        return {"features": [str(f) for f in self.features],
                "values": [str(v) for v in self.values], "rows": int(self.rows),
                "observed": float(self.observed), "effect": float(self.effect),
                "interval": [float(self.low), float(self.high)], "level": float(self.level),
                "clear": self.clear, **labels}

"""The promotion gate: does the challenger deserve to replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.config import GateSettings

# The interval level at which the champion's ranking of the newest period is called worse
# than chance: 99%, so that a champion without skill (AUC 0.5) is kept back by it in about
# 0.5% of retrains, not in the 5% a 90% interval would give.
CHANCE_LEVEL = 0.99
# Outcomes recorded the wrong way round also move the count of real impacts far from what
# the champion's probabilities allow (a month of 10% becomes one of 90%). When the count
# lies outside this central range of the champion's Poisson-binomial count, the 90% ROC
# AUC interval wholly below 0.5 is enough to keep the champion: each alone happens by
# chance, both together hardly ever with a champion calibrated in the large.
COUNT_RANGE = 0.999


@dataclass(frozen=True)
class GateDecision:
    """The decision, with the reason and both sets of metrics."""

    passed: bool
    reason: str
    champion: dict[str, Any] = field(default_factory=dict)
    challenger: dict[str, Any] = field(default_factory=dict)


def with_chance_check(metrics: dict[str, Any], y: np.ndarray, w: np.ndarray,
                      p: np.ndarray | None = None) -> dict[str, Any]:
    """`metrics` (as `model.metrics.evaluate` gives them, for outcomes `y` weighted by `w`)
    with what the rule against a newest period ranked worse than chance reads:
    `roc_auc_99`, the ROC AUC's score interval at `CHANCE_LEVEL`, and, given the
    probabilities `p` that scored it, `impact_count`: the real impacts counted (rows, not
    weights) with the central `COUNT_RANGE` of the count those probabilities allow."""
    from model.metrics import auc_score_interval, effective_counts

    out = dict(metrics)
    if p is not None and len(y):
        from model.surprises import count_quantile

        tail = (1 - COUNT_RANGE) / 2
        low, high = (count_quantile(p, q) for q in (tail, 1 - tail))
        out["impact_count"] = {"value": float(np.sum(y)), "low": float(low), "high": float(high)}
    auc = metrics.get("roc_auc")
    if not auc or not np.isfinite(auc["value"]):
        return out
    low99, high99 = auc_score_interval(auc["value"], *effective_counts(y, w), CHANCE_LEVEL)
    return {**out, "roc_auc_99": {"value": auc["value"], "low": low99, "high": high99}}


def _reversed(champion: dict[str, dict[str, float]]) -> str:
    """Why the newest period's outcomes look recorded the wrong way round (else "")."""
    far, auc, count = (champion.get(k) for k in ("roc_auc_99", "roc_auc", "impact_count"))
    if far and far["high"] < 0.5:
        return (f"the champion ranks the newest period worse than chance (ROC AUC "
                f"{far['value']:.3f}, {CHANCE_LEVEL:.0%} interval [{far['low']:.3f}, "
                f"{far['high']:.3f}])")
    if (auc and count and auc["high"] < 0.5
            and not count["low"] <= count["value"] <= count["high"]):
        return (f"the champion ranks the newest period worse than chance (ROC AUC "
                f"{auc['value']:.3f}, interval [{auc['low']:.3f}, {auc['high']:.3f}]) and the "
                f"period holds {count['value']:.0f} real impacts where the champion's "
                f"probabilities allow {count['low']:.0f} to {count['high']:.0f} "
                f"({COUNT_RANGE:.1%} range)")
    return ""


def decide(champion: dict[str, dict[str, float]], challenger: dict[str, dict[str, float]],
           settings: GateSettings) -> GateDecision:
    """Compare metrics on the newest period, each scored by a model that did not see it.

    Both arguments map metric names to {value, low, high}.
    """
    reasons = []
    loss_gap = challenger["log_loss"]["value"] - champion["log_loss"]["value"]
    if loss_gap > settings.log_loss_tolerance:
        reasons.append(f"log loss worse by {loss_gap:.4f} (tolerance "
                       f"{settings.log_loss_tolerance:.4f})")
    auc_c, auc_h = challenger.get("roc_auc"), champion.get("roc_auc")
    if settings.require_auc_overlap and auc_c and auc_h and auc_c["high"] < auc_h["low"]:
        reasons.append(f"ROC AUC interval [{auc_c['low']:.3f}, {auc_c['high']:.3f}] sits below "
                       f"the champion's [{auc_h['low']:.3f}, {auc_h['high']:.3f}]")
    reversed_outcomes = _reversed(champion)
    if reversed_outcomes:
        # Not a comparison: the newest period's outcomes run against what the earlier
        # periods taught, beyond chance. Recorded the wrong way round, or real impact
        # defined anew: either way a person should look before a model learns it.
        reasons.append(f"{reversed_outcomes}: check that its real impact is recorded the "
                       "right way round (fix it with ingest --replace), and promote by hand "
                       "if it is")
    if reasons:
        return GateDecision(False, "; ".join(reasons), champion, challenger)
    return GateDecision(True, f"log loss {challenger['log_loss']['value']:.4f} vs champion "
                              f"{champion['log_loss']['value']:.4f} (within tolerance) and the "
                              "AUC interval does not sit below the champion's",
                        champion, challenger)

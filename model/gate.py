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


@dataclass(frozen=True)
class GateDecision:
    """The decision, with the reason and both sets of metrics."""

    passed: bool
    reason: str
    champion: dict[str, Any] = field(default_factory=dict)
    challenger: dict[str, Any] = field(default_factory=dict)


def with_chance_check(metrics: dict[str, Any], y: np.ndarray,
                      w: np.ndarray) -> dict[str, Any]:
    """`metrics` (as `model.metrics.evaluate` gives them, for outcomes `y` weighted by `w`)
    with `roc_auc_99`: the ROC AUC's score interval at `CHANCE_LEVEL`, which the rule
    against a newest period ranked worse than chance reads."""
    from model.metrics import auc_score_interval, effective_counts

    auc = metrics.get("roc_auc")
    if not auc or not np.isfinite(auc["value"]):
        return metrics
    low, high = auc_score_interval(auc["value"], *effective_counts(y, w), CHANCE_LEVEL)
    return {**metrics, "roc_auc_99": {"value": auc["value"], "low": low, "high": high}}


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
    far = champion.get("roc_auc_99")
    if far and far["high"] < 0.5:
        # Not a comparison: the newest period's outcomes run against what the earlier
        # periods taught, beyond chance. Recorded the wrong way round, or real impact
        # defined anew: either way a person should look before a model learns it.
        reasons.append(f"the champion ranks the newest period worse than chance (ROC AUC "
                       f"{far['value']:.3f}, {CHANCE_LEVEL:.0%} interval [{far['low']:.3f}, "
                       f"{far['high']:.3f}]): check that its real impact is recorded the "
                       "right way round (fix it with ingest --replace), and promote by hand "
                       "if it is")
    if reasons:
        return GateDecision(False, "; ".join(reasons), champion, challenger)
    return GateDecision(True, f"log loss {challenger['log_loss']['value']:.4f} vs champion "
                              f"{champion['log_loss']['value']:.4f} (within tolerance) and the "
                              "AUC interval does not sit below the champion's",
                        champion, challenger)

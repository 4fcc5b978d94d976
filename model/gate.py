"""The promotion gate: does the challenger deserve to replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.config import GateSettings


@dataclass(frozen=True)
class GateDecision:
    """The decision, with the reason and both sets of metrics."""

    passed: bool
    reason: str
    champion: dict[str, Any] = field(default_factory=dict)
    challenger: dict[str, Any] = field(default_factory=dict)


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
    if auc_h and auc_h["high"] < 0.5:
        # Not a comparison: the newest period's outcomes run against what every earlier
        # period taught, beyond chance. Recorded the wrong way round, or real impact
        # defined anew: either way a person should look before a model learns it.
        reasons.append(f"the champion ranks the newest period worse than chance (ROC AUC "
                       f"{auc_h['value']:.3f}, interval [{auc_h['low']:.3f}, "
                       f"{auc_h['high']:.3f}]): check that its real impact is recorded the "
                       "right way round (fix it with ingest --replace), and promote by hand "
                       "if it is")
    if reasons:
        return GateDecision(False, "; ".join(reasons), champion, challenger)
    return GateDecision(True, f"log loss {challenger['log_loss']['value']:.4f} vs champion "
                              f"{champion['log_loss']['value']:.4f} (within tolerance) and the "
                              "AUC interval does not sit below the champion's",
                        champion, challenger)

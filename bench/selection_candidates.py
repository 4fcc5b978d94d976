"""Where `evaluation` and `none` part ways: choosing among several candidates.

With the bayes_logistic candidate alone, `model.propensity_weights: evaluation` trains
the very model `none` trains, and a monthly gate compares the champion with itself (the
challenger's procedure retrained without the newest month is last month's challenger).
The modes differ where cross-validation chooses among candidates: `evaluation` scores
them by log loss weighted by 1 / propensity, `none` unweighted. On a loop's labelled rows
after its last month, this cross-validates the shipped candidates once (their fits are
unweighted under both modes), lets each scoring pick as `train_model` does, and scores
each pick on the test set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from selection_months import TestSet

from model.config import Config
from model.estimators import candidate_specs
from model.metrics import brier, roc_auc
from model.propensity import scoring_weights
from model.selection import (
    candidates_for,
    cross_validated_margins,
    fit_final,
    prepare,
    score_candidate,
)

SCORINGS = ("none", "evaluation")


@dataclass(frozen=True)
class Pick:
    """The candidate one scoring of cross-validation picked, and its test figures."""

    scenario: str
    seed: int
    scoring: str
    chosen: str
    auc: float
    brier: float


def with_mode(config: Config, mode: str, candidates: tuple[str, ...]) -> Config:
    """The configuration with these candidates, weighted as `mode` says."""
    return dataclasses.replace(config, model=dataclasses.replace(
        config.model, candidates=candidates, propensity_weights=mode))


def picks(proposals: pd.DataFrame, config: Config, candidates: tuple[str, ...], test: TestSet,
          scenario: str, seed: int) -> list[Pick]:
    """Each scoring's pick among `candidates` on validated labelled proposals."""
    config = with_mode(config, "none", candidates)
    data = prepare(proposals, config)
    m = config.model
    specs, _ = candidates_for(data, candidate_specs(m.candidates, m.logistic_c, tuple(
        dict(p) for p in m.boosted_trees)), config)
    margins = cross_validated_margins(specs, data, config, repeats=m.cv_repeats, seed=seed)
    out = []
    for scoring in SCORINGS:
        scored = dataclasses.replace(data, scoring=scoring_weights(
            proposals, with_mode(config, scoring, candidates)))
        results = [score_candidate(spec, margin, scored)
                   for spec, margin in zip(specs, margins, strict=True)]
        best = min(results, key=lambda r: (r.log_loss, r.spec.regularisation_rank))
        model = fit_final(best.spec, data, config, seed, best.oof_margins)[0]
        p, w = model.predict_proba(test.proposals), np.ones(len(test.y))
        out.append(Pick(scenario, seed, scoring, best.spec.kind, roc_auc(test.y, p, w),
                        brier(test.y, p, w)))
    return out

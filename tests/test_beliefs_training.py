"""Beliefs against evidence through training: verdicts, learned effects and their JSON."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.config import Config, parse_config
from model.training import TrainingResult, train_model

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROWS = 2000


def _config(**model: Any) -> Config:
    """Six features: four with a stated direction, a category with level beliefs, one unstated."""
    return parse_config({
        "roles": {"id": "id", "period": "period", "label": "impact"},
        "columns": {
            "id": {"type": "text", "required": True},
            "period": {"type": "period", "required": "labelled"},
            "impact": {"type": "boolean", "required": "labelled"},
            "plan": {"type": "boolean", "required": True, "feature": True,
                     "monotone": "increasing"},
            "hours": {"type": "number", "required": True, "feature": True, "log": True,
                      "monotone": "increasing", "belief": {"strength": "strong"}},
            "rare": {"type": "boolean", "required": True, "feature": True,
                     "monotone": "increasing"},
            "stage": {"type": "category", "required": True, "feature": True,
                      "values": ["upstream", "same_stage", "unrelated"],
                      "belief": {"levels": {"upstream": "favourable"}}},
            "reach": {"type": "number", "required": True, "feature": True},
            "noise": {"type": "number", "required": True, "feature": True},
        },
        "model": {"candidates": ["bayes_logistic"], "cv_repeats": 1, "bootstrap_samples": 20,
                  **model},
    })


def _proposals(seed: int = 0) -> pd.DataFrame:
    """Outcomes where the plan and upstream partners help, hours and reach are the other way
    round from what is believed or unstated, and `rare` (true in 12 rows) and `noise` do nothing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": [f"p{i}" for i in range(ROWS)],
        "period": rng.choice(["2025-01", "2025-02", "2025-03"], ROWS),
        "plan": rng.random(ROWS) < 0.4,
        "hours": np.round(rng.lognormal(np.log(10), 0.8, ROWS), 1),
        "rare": np.arange(ROWS) < 12,
        "stage": rng.choice(["upstream", "same_stage", "unrelated"], ROWS),
        "reach": rng.normal(0, 1, ROWS),
        "noise": rng.normal(0, 1, ROWS),
    })
    logit = (-1.8 + 1.5 * frame["plan"] - 0.9 * (np.log1p(frame["hours"]) - np.log(11))
             + 0.8 * (frame["stage"] == "upstream") + 0.6 * frame["reach"])
    frame["impact"] = rng.random(ROWS) < 1 / (1 + np.exp(-logit.to_numpy(float)))
    return frame


@pytest.fixture(scope="module")
def result() -> TrainingResult:
    return train_model(_proposals(), _config(), seed=0)


def test_each_belief_gets_the_verdict_its_outcomes_support(result: TrainingResult) -> None:
    verdicts = {(b.feature, b.level): b.verdict for b in result.beliefs}
    assert verdicts == {("plan", None): "confirmed",  # believed and true
                        ("hours", None): "contradicted",  # believed the wrong way round
                        ("rare", None): "uncertain",  # twelve rows cannot tell
                        ("stage", "upstream"): "confirmed"}
    for belief in result.beliefs:
        assert belief.low <= belief.effect <= belief.high
        side = belief.believed * np.array([belief.low, belief.high])
        assert (belief.verdict == "confirmed") == bool(np.all(side > 0))
        assert (belief.verdict == "contradicted") == bool(np.all(side < 0))


def test_a_strong_belief_shows_its_strength_and_is_still_overturned(result: TrainingResult) -> None:
    hours = next(b for b in result.beliefs if b.feature == "hours")
    assert hours.prior == {"direction": 1, "strength": "strong", "sd": 0.35, "effect": 0.5}
    assert hours.verdict == "contradicted" and hours.high < 0


def test_clear_effects_nobody_stated_are_learned_and_noise_is_not(result: TrainingResult) -> None:
    learned = {(e.feature, e.level): e for e in result.learned}
    assert learned[("reach", None)].verdict == "raises" and learned[("reach", None)].low > 0
    assert ("noise", None) not in learned
    assert not {key for key in learned if key[0] in ("plan", "hours", "rare")}, "believed"
    assert ("stage", "upstream") not in learned  # a belief covers it
    for effect in result.learned:
        assert effect.low > 0 or effect.high < 0
        assert effect.verdict == ("raises" if effect.effect > 0 else "lowers")


def test_verdicts_and_learned_effects_are_json_ready(result: TrainingResult) -> None:
    beliefs = json.loads(json.dumps([b.to_json() for b in result.beliefs]))
    plan = next(b for b in beliefs if b["feature"] == "plan")
    assert set(plan) == {"feature", "level", "prior", "effect", "interval", "verdict"}
    assert plan["prior"]["direction"] == 1 and plan["prior"]["strength"] == "moderate"
    assert plan["interval"][0] < plan["effect"] < plan["interval"][1]
    learned = json.loads(json.dumps([e.to_json() for e in result.learned]))
    assert all(set(e) == {"feature", "level", "effect", "interval", "verdict"} for e in learned)


def test_verdicts_come_from_the_bayes_fit_even_when_trees_win() -> None:
    proposals = _proposals().head(800)
    quick_trees = [{"max_depth": 2, "max_iter": 30, "learning_rate": 0.1}]
    trees = train_model(proposals, _config(candidates=["boosted_trees"], comfortable_positives=20,
                                           boosted_trees=quick_trees), seed=0)
    bayes = train_model(proposals, _config(comfortable_positives=20), seed=0)
    assert trees.chosen.kind == "boosted_trees"
    assert trees.beliefs == bayes.beliefs and trees.learned == bayes.learned

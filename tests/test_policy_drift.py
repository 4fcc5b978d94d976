"""Decisions with exploration, the decision log, and drift measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.config import Config
from model.drift import drift_report, psi
from model.metrics import proportion_score_interval
from model.policy import choose, propensities
from pipelines.documents import Decision
from pipelines.settings import Workspace
from pipelines.storage import decisions


def test_propensities_match_the_acceptance_frequencies() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.random(12)
    counts = np.zeros(12)
    draws = 20_000
    for _ in range(draws):
        accepted, propensity = choose(probabilities, 4, 0.2, rng)
        counts += accepted
        assert accepted.sum() == 4
    np.testing.assert_allclose(counts / draws, propensity, atol=0.015)
    assert propensity.min() > 0, "every proposal can be accepted"


def test_without_exploration_the_top_k_are_accepted_for_sure() -> None:
    assert propensities(6, 2, 0.0).tolist() == [1, 1, 0, 0, 0, 0]


def _decision(proposal_id: str, propensity: float) -> Decision:
    return Decision(proposal_id=proposal_id, model_version="1", impact_probability=0.1, rank=1,
                    accepted=True, propensity=propensity, capacity=2, explore_rate=0.1,
                    decided_at="2026-03-01T00:00:00+00:00")


def test_decision_log_round_trip_and_propensity_fill(tmp_path, config: Config) -> None:
    workspace = Workspace(tmp_path / "ws")
    decisions.append(workspace, [_decision("a", 0.25), _decision("b", 1.0)])
    with workspace.decisions.open("a") as handle:
        handle.write('{"proposal_id": "c", "propens')  # a write cut short by a crash
    assert decisions.read(workspace) == [_decision("a", 0.25), _decision("b", 1.0)]
    frame = pd.DataFrame({"proposal_id": ["a", "b", "z"],
                          "acceptance_propensity": [np.nan, 0.5, np.nan]})
    filled = decisions.fill_propensity(frame, workspace, config)
    assert filled["acceptance_propensity"].tolist()[:2] == [0.25, 0.5]
    assert np.isnan(filled["acceptance_propensity"].iloc[2])


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    history = rng.lognormal(3, 1, 2000)
    assert psi(history, history) == pytest.approx(0.0, abs=1e-9)
    assert psi(history, rng.lognormal(3, 1, 500)) < 0.1
    assert psi(history, rng.lognormal(4.5, 1, 500)) > 0.25


def test_drift_report_flags_a_constructed_shift(history: pd.DataFrame, config: Config) -> None:
    shifted = history.copy()
    newest = shifted["trial_period"] == "2025-12"
    shifted.loc[newest, "expected_reach"] = shifted.loc[newest, "expected_reach"] * 50
    shifted.loc[newest, "partner_sector"] = "space_tech"
    report = drift_report(shifted, shifted["trial_period"], "real_impact", config.features)
    rows = {r["feature"]: r for r in report["features"]}
    assert rows["expected_reach"]["large"] and rows["expected_reach"]["metric"] == "psi"
    assert rows["partner_sector"]["new_categories"] == ["space_tech"]
    assert not rows["has_action_plan"]["large"]
    assert any("Expected reach" in w for w in report["warnings"])


def test_wilson_interval_contains_the_rate() -> None:
    low, high = proportion_score_interval(3 / 28, 28, 0.9)
    assert low < 3 / 28 < high and low >= 0 and high <= 1

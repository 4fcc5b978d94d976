"""The simulator: reproducible, calibrated to its base rate, and faithful to its formula."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from model.simulate import (
    CONTRACT_COLUMNS,
    MISSING_RATES,
    OUTCOME_COLUMNS,
    UNUSUAL_SECTORS,
    SimulationParams,
    impact_logit,
    simulate_history,
    simulate_proposals,
    solve_intercept,
)

LARGE = SimulationParams(periods=10, per_period=500, seed=11)
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def large() -> tuple[pd.DataFrame, pd.DataFrame]:
    """5,000 labelled proposals and their true probabilities."""
    return simulate_history(LARGE)


def test_same_seed_gives_identical_frames() -> None:
    params = SimulationParams(periods=3, per_period=20, seed=5, drift=0.5)
    first, first_truth = simulate_history(params)
    again, again_truth = simulate_history(params)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first_truth, again_truth)
    pd.testing.assert_frame_equal(simulate_proposals(25, seed=3), simulate_proposals(25, seed=3))


def test_different_seeds_give_different_frames() -> None:
    first, _ = simulate_history(SimulationParams(periods=2, per_period=30, seed=1))
    other, _ = simulate_history(SimulationParams(periods=2, per_period=30, seed=2))
    assert not first.equals(other)
    assert not simulate_proposals(25, seed=1).equals(simulate_proposals(25, seed=2))


def test_base_rate_of_5000_rows(large: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    proposals, truth = large
    assert truth["true_probability"].mean() == pytest.approx(LARGE.base_rate, abs=1e-6)
    assert 0.10 <= proposals["real_impact"].mean() <= 0.15


def test_every_contract_column_and_trial_periods(
    large: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    proposals, _ = large
    assert tuple(proposals.columns) == CONTRACT_COLUMNS
    assert proposals["proposal_id"].is_unique
    assert proposals["trial_period"].nunique() == LARGE.periods
    assert proposals["trial_period"].iloc[0] == "2025-01"
    assert proposals["proposal_id"].iloc[0] == "P2025-01-001"
    assert (proposals["acceptance_propensity"] == 1.0).all()
    impact = proposals["real_impact"]
    assert proposals.loc[impact, "impact_value"].gt(0).all()
    assert proposals.loc[~impact, "impact_value"].isna().all()


def test_values_stay_within_the_contract(large: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    proposals, _ = large
    for column in ("logistics_complexity", "strategy_fit"):
        assert proposals[column].dropna().between(1, 5).all()
    for column in ("partner_committed_fte", "partner_headcount", "internal_hours_estimate",
                   "expected_reach"):
        assert (proposals[column].dropna() >= 0).all()
    assert set(proposals["sector_proximity"]) == {"same", "adjacent", "distant"}
    assert proposals["partner_sector"].nunique() >= 15


def test_missing_rates_roughly_as_designed(large: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    proposals, _ = large
    rates = proposals.isna().mean()
    for column, rate in {**MISSING_RATES, "partner_committed_fte": 0.15}.items():
        assert rates[column] == pytest.approx(rate, abs=0.03), column
    required = ["proposal_id", "trial_period", "partnership_type", "partner_sector",
                "sector_proximity", "lifecycle_position", "has_clear_objective",
                "has_action_plan", "product_ready", "real_impact"]
    assert rates[required].eq(0).all()


def test_truth_is_aligned_and_strictly_between_0_and_1(
    large: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    proposals, truth = large
    assert list(truth.columns) == ["proposal_id", "true_probability"]
    assert truth["proposal_id"].tolist() == proposals["proposal_id"].tolist()
    assert truth["true_probability"].between(0, 1, inclusive="neither").all()


def test_bayes_auc_leaves_something_to_learn(large: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from sklearn.metrics import roc_auc_score

    proposals, truth = large
    auc = roc_auc_score(proposals["real_impact"], truth["true_probability"])
    assert 0.80 <= auc <= 0.90
    assert truth["true_probability"].quantile(0.99) > 0.5


def test_effects_have_their_documented_direction(
    large: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    proposals, truth = large
    p = truth["true_probability"]

    def mean_by(column: str) -> pd.Series:
        return p.groupby(proposals[column].astype(str)).mean()

    assert mean_by("has_action_plan")["True"] > mean_by("has_action_plan")["False"]
    assert mean_by("has_clear_objective")["True"] > mean_by("has_clear_objective")["False"]
    assert mean_by("product_ready")["True"] > mean_by("product_ready")["False"]
    lifecycle = mean_by("lifecycle_position")
    assert min(lifecycle["upstream"], lifecycle["downstream"]) > lifecycle["same_stage"]
    assert mean_by("sector_proximity")["same"] < mean_by("sector_proximity")["distant"]


def test_capacity_only_pays_off_with_an_action_plan() -> None:
    base = pd.DataFrame({
        "partnership_type": ["referral"] * 4, "partner_sector": ["accounting"] * 4,
        "sector_proximity": ["adjacent"] * 4, "lifecycle_position": ["downstream"] * 4,
        "has_clear_objective": [True] * 4, "has_action_plan": [False, False, True, True],
        "product_ready": [True] * 4, "partner_committed_fte": [0.0, 2.0, 0.0, 2.0],
        "partner_headcount": [50] * 4, "internal_hours_estimate": [10.0] * 4,
        "logistics_complexity": [2] * 4, "expected_reach": [1000] * 4, "strategy_fit": [4] * 4,
        "inbound": [True] * 4,
    })
    logit = impact_logit(base, np.zeros(4))
    assert logit[1] == pytest.approx(logit[0])
    assert logit[3] - logit[2] == pytest.approx(1.2)
    assert logit[2] - logit[0] == pytest.approx(1.6)


def test_surprise_pair_gets_its_bonus() -> None:
    row = {"partnership_type": "technical_integration", "sector_proximity": "distant",
           "lifecycle_position": "unrelated", "has_clear_objective": True,
           "has_action_plan": True, "product_ready": True, "partner_committed_fte": 1.0,
           "partner_headcount": 30, "internal_hours_estimate": 40.0, "logistics_complexity": 3,
           "expected_reach": 2000, "strategy_fit": 3, "inbound": True}
    frame = pd.DataFrame([{**row, "partner_sector": "video_games"},
                          {**row, "partner_sector": "retail"}])
    logit = impact_logit(frame, np.zeros(2))
    assert logit[0] - logit[1] == pytest.approx(2.5)


def test_drift_shifts_the_mix_towards_influencers_and_reach() -> None:
    params = SimulationParams(periods=2, per_period=3000, seed=4, drift=1.0)
    proposals, _ = simulate_history(params)
    first = proposals["trial_period"] == "2025-01"
    influencer = proposals["partnership_type"] == "influencer"
    assert influencer[~first].mean() > influencer[first].mean() + 0.08
    reach = proposals["expected_reach"].astype(float)
    assert reach[~first].median() > 1.5 * reach[first].median()


def test_intercept_is_solved_for_the_base_rate() -> None:
    logit = np.random.default_rng(0).normal(0, 2, 1000)
    intercept = solve_intercept(logit, 0.2)
    assert np.mean(1 / (1 + np.exp(-(logit + intercept)))) == pytest.approx(0.2, abs=1e-9)


def test_proposals_to_score_have_no_outcome_and_some_unusual_sectors() -> None:
    proposals = simulate_proposals(30, seed=7)
    assert len(proposals) == 30
    assert not set(OUTCOME_COLUMNS) & set(proposals.columns)
    assert [c for c in CONTRACT_COLUMNS if c not in OUTCOME_COLUMNS] == list(proposals.columns)
    assert proposals["partner_sector"].isin(UNUSUAL_SECTORS).sum() >= 2
    assert proposals["proposal_id"].is_unique


def _make_samples() -> ModuleType:
    """data/sample/make_samples.py, imported by path (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_files_are_what_the_script_writes() -> None:
    make_samples = _make_samples()
    proposals, truth = simulate_history(make_samples.HISTORY)
    truth = truth.assign(true_probability=truth["true_probability"].round(6))
    new = simulate_proposals(**make_samples.NEW_PROPOSALS)
    for name, frame in [("history.csv", proposals), ("history.csv.truth.csv", truth),
                        ("new_proposals.csv", new)]:
        assert (SAMPLES / name).read_text("utf-8") == make_samples.to_csv_text(frame), name


def test_sample_csv_conventions() -> None:
    history = (SAMPLES / "history.csv").read_text("utf-8")
    assert "True" not in history and "False" not in history
    assert ",1.0," not in history and ",nan," not in history.lower()
    assert "trial_period" not in (SAMPLES / "new_proposals.csv").read_text("utf-8")


def test_seed_month_tells_the_trial_month_story() -> None:
    seed = pd.read_csv(SAMPLES / "seed_month.csv", dtype=str, keep_default_na=False)
    history = pd.read_csv(SAMPLES / "history.csv", dtype=str, keep_default_na=False)
    assert list(seed.columns) == list(CONTRACT_COLUMNS)
    assert len(seed) == 28 and seed["proposal_id"].is_unique
    assert (seed["real_impact"] == "true").sum() == 3
    assert set(seed["real_impact"]) | set(seed["has_action_plan"]) <= {"true", "false"}
    assert not set(seed["proposal_id"]) & set(history["proposal_id"])
    winners = seed[seed["real_impact"] == "true"]
    assert {"video_games", "wealth_management"} <= set(winners["partner_sector"])
    assert (winners["has_action_plan"] == "true").all()
    same_sector = seed[seed["sector_proximity"] == "same"]
    assert len(same_sector) >= 4 and (same_sector["real_impact"] == "false").all()


@pytest.mark.parametrize(("name", "labelled"), [
    ("seed_month.csv", True), ("history.csv", True), ("new_proposals.csv", False),
])
def test_sample_files_validate_against_the_contract(name: str, labelled: bool) -> None:
    from model.validation import validate_frame
    from pipelines.settings import load_config

    text = pd.read_csv(SAMPLES / name, dtype=str, keep_default_na=False)
    raw = text.astype(object).where(text != "", None)
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # spreadsheet rows: the header is row 1
    typed = validate_frame(raw, load_config(), labelled=labelled)
    assert len(typed) == len(raw)

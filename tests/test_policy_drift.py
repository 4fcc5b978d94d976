"""Decisions with exploration, the decision log, and drift measures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from model.config import Config
from model.drift import _js_splits, _psi_splits, _splits, drift_report, jensen_shannon, psi, psi_bins
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
    # one filled (a); b kept its own; z is not in the log: ingest says how many it filled
    from pipelines.jobs.ingest import ingest_notes

    assert filled.attrs[decisions.FILLED] == 1
    assert ("the acceptance propensities of 1 proposal were not in the file and were taken "
            "from the decision log") in ingest_notes(config, filled, decisions.read(workspace))
    given = frame.fillna(1.0)
    assert decisions.fill_propensity(given, workspace, config).attrs[decisions.FILLED] == 0


def test_ingest_says_what_outcomes_say_against_the_log(tmp_path, config: Config) -> None:
    """Outcomes of proposals the log declined, and propensities other than the logged ones,
    are stored as given, and said; a file agreeing with the log says nothing."""
    from dataclasses import replace

    workspace = Workspace(tmp_path / "ws")
    declined = replace(_decision("b", 0.02), accepted=False)
    decisions.append(workspace, [_decision("a", 0.25), declined, _decision("c", 0.5)])
    frame = pd.DataFrame({"proposal_id": ["a", "b", "c", "z"],
                          "acceptance_propensity": [0.25, np.nan, 1.0, 1.0]})
    notes = decisions.disagreements(decisions.fill_propensity(frame, workspace, config),
                                    decisions.read(workspace), config)
    assert notes == [
        "1 outcome of this file is of a proposal the decision log declined (b): stored as "
        "given. Check that the file holds only the proposals the team took on",
        "1 proposal carries an acceptance_propensity other than the log's (e.g. c: 1 in the "
        "file, 0.5 logged): the file's is stored"]
    agreeing = frame.iloc[[0, 3]]
    assert decisions.disagreements(agreeing, decisions.read(workspace), config) == []


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
    assert any("new: space tech" in w for w in report["warnings"])
    sector = dataclasses.replace(config.by_name["partner_sector"],
                                 level_labels={"space_tech": "spatial"})
    labelled = tuple(sector if c.name == "partner_sector" else c for c in config.features)
    worded = drift_report(shifted, shifted["trial_period"], "real_impact", labelled)
    assert any("new: spatial" in w for w in worded["warnings"])
    assert {r["feature"]: r for r in worded["features"]}["partner_sector"][
        "new_categories"] == ["space_tech"]  # the data's value stays as it is


def test_a_month_of_accepted_proposals_is_weighted_and_its_rate_not_judged(
        history: pd.DataFrame, config: Config) -> None:
    """After `decide`, the newest period holds the top-ranked proposals accepted (propensity
    1) and a few explored (small propensities): unweighted, its rate looks like a shift.
    It is weighted as if every proposal had been accepted, and not judged against the
    history (one explored success weighted 20 would look like a shift too)."""
    frame = history[history["trial_period"] < "2025-12"].copy()
    frame["acceptance_propensity"] = 1.0
    newest = history[history["trial_period"] == "2025-12"].head(10).copy()
    newest["real_impact"] = [True] * 5 + [False] * 5
    newest["acceptance_propensity"] = [1.0] * 8 + [0.05, 0.05]
    both = pd.concat([frame, newest], ignore_index=True)
    plain = drift_report(both, both["trial_period"], "real_impact", config.features)
    assert plain["impact"]["newest_rate"] == 0.5 and plain["impact"]["shifted"]
    report = drift_report(both, both["trial_period"], "real_impact", config.features,
                          propensities=both["acceptance_propensity"])
    impact = report["impact"]
    assert impact["weighted"] and report["selected"]
    assert impact["newest_rate"] == pytest.approx(5 / 48)
    assert not impact["shifted"] and not any("impact rate" in w for w in report["warnings"])
    assert not plain["selected"] and not plain["impact"]["weighted"]
    newest["real_impact"] = [False] * 9 + [True]  # one explored success: weighted 20 / 48
    both = pd.concat([frame, newest], ignore_index=True)
    lucky = drift_report(both, both["trial_period"], "real_impact", config.features,
                         propensities=both["acceptance_propensity"])
    assert lucky["impact"]["newest_rate"] == pytest.approx(20 / 48)
    assert not lucky["impact"]["shifted"]
    newest["acceptance_propensity"] = 1.0  # decided without exploration: the log says so
    newest["real_impact"] = [True] * 5 + [False] * 5
    both = pd.concat([frame, newest], ignore_index=True)
    unexplored = drift_report(both, both["trial_period"], "real_impact", config.features,
                              propensities=both["acceptance_propensity"], decided=True)
    assert unexplored["selected"] and not unexplored["impact"]["weighted"]
    assert unexplored["impact"]["newest_rate"] == 0.5 and not unexplored["impact"]["shifted"]


def test_wilson_interval_contains_the_rate() -> None:
    low, high = proportion_score_interval(3 / 28, 28, 0.9)
    assert low < 3 / 28 < high and low >= 0 and high <= 1


@pytest.mark.parametrize(("rows", "newest", "kind"), [
    (480, 40, "lognormal"), (480, 40, "levels 1-5"), (200, 150, "lognormal"),
    (60, 7, "30% missing"), (30, 1, "lognormal")])
def test_chance_splits_compute_each_split_s_own_distance(rows: int, newest: int,
                                                        kind: str) -> None:
    """The re-splits that measure chance are computed all at once; each must be the very
    distance the report gives a history and newest period split that way."""
    rng = np.random.default_rng(rows + newest)
    x = rng.integers(1, 6, rows).astype(float) if kind == "levels 1-5" else rng.lognormal(3, 1, rows)
    if kind == "30% missing":
        x[rng.random(rows) < 0.3] = np.nan
    splits = _splits(rows, newest, np.random.default_rng(0))
    assert (splits.sum(axis=1) == newest).all() and len({s.tobytes() for s in splits}) > 1
    bins = psi_bins(newest)
    np.testing.assert_allclose(_psi_splits(x, splits, bins),
                               [psi(x[~s], x[s], bins) for s in splits], rtol=0, atol=1e-12)
    levels = pd.Series(rng.choice(["a", "b", "c", None], rows), dtype=object)
    np.testing.assert_allclose(_js_splits(levels, splits),
                               [jensen_shannon(levels[~s], levels[s]) for s in splits],
                               rtol=0, atol=1e-12)


def test_an_unchanged_month_is_not_called_a_shift_but_a_changed_one_is(config: Config) -> None:
    """Months of 40 simulated proposals with nothing changed: PSI on deciles passes the rule
    of thumb in most of them, so a warning on it alone would fire every month; the report
    calls a feature large only past chance too. A real shift in one month is still caught."""
    from model.simulate import SimulationParams, simulate_history
    from model.validation import validate_frame

    history, _ = simulate_history(SimulationParams(periods=8, per_period=40, seed=5))
    raw = history.astype(str).where(history.notna(), None)
    raw.index = pd.RangeIndex(2, len(raw) + 2, name="row")
    frame = validate_frame(raw, config, labelled=True)
    periods = sorted(frame["trial_period"].unique())
    by_rule, by_report = 0, 0
    for last in periods[3:]:
        part = frame[frame["trial_period"] <= last]
        newest = (part["trial_period"] == last).to_numpy()
        reach = part["expected_reach"].to_numpy(float, na_value=np.nan)
        by_rule += psi(reach[~newest], reach[newest], 10) > 0.25
        report = drift_report(part, part["trial_period"], "real_impact", config.features, seed=1)
        by_report += sum(r["large"] for r in report["features"])
        with_missing = sum(r["missing_history"] > 0 or r["missing_newest"] > 0
                           for r in report["features"])
        assert report["expected_by_chance"] == pytest.approx(
            0.01 * (len(report["features"]) + with_missing))
        assert report == drift_report(part, part["trial_period"], "real_impact",
                                      config.features, seed=1)  # seeded: the same report
    assert by_rule >= 3 and by_report <= 1
    newest = frame["trial_period"] == periods[-1]
    shifted = frame.copy()
    shifted.loc[newest, "expected_reach"] = shifted.loc[newest, "expected_reach"] * 4
    report = drift_report(shifted, shifted["trial_period"], "real_impact", config.features, seed=1)
    row = next(r for r in report["features"] if r["feature"] == "expected_reach")
    assert row["large"] and row["distance"] > max(0.25, row["chance"]) and row["bins"] < 10
    assert any(w.startswith("Expected reach: large shift (psi") for w in report["warnings"])


def test_a_newest_period_is_known_decided_from_the_log(tmp_path, config: Config) -> None:
    from pipelines.jobs.retrain import newest_was_decided

    workspace = Workspace(tmp_path / "ws")
    frame = pd.DataFrame({"proposal_id": ["a", "b", "c"],
                          "trial_period": ["2025-01", "2025-02", "2025-02"]})
    assert not newest_was_decided(decisions.read(workspace), frame, config)  # no log at all
    decisions.append(workspace, [_decision("a", 1.0)])
    assert not newest_was_decided(decisions.read(workspace), frame, config)  # only an older period's
    decisions.append(workspace, [_decision("c", 1.0)])
    assert newest_was_decided(decisions.read(workspace), frame, config)

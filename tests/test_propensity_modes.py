"""`model.propensity_weights`: where the 1 / acceptance-propensity weights apply.

"fit" weights the fits and every metric, "evaluation" only the metrics (cross-validated
selection and figures, the backtest, the gate's comparison), "none" nothing. Each test
trains on simulated months whose proposals carry varied propensities and checks one
place the weights flow against weights computed here from the propensities.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from model.config import Config, ModelSettings
from model.metrics import log_loss
from model.selection import BAYES_SPEC, fit_procedure, prepare, subset
from model.simulate import SimulationParams, simulate_history
from model.training import backtest_period, summarise_data, train_model
from model.validation import validate_frame
from pipelines.cli.app import main
from pipelines.cli.commands import csv_bytes
from pipelines.documents import TrainingRecord
from pipelines.jobs.retrain import compare_on_newest, look_back
from pipelines.report.card import model_card
from pipelines.settings import default_config_text, read_config
from pipelines.storage.readers import read_bytes_table

os.environ.setdefault("OMP_NUM_THREADS", "1")
MODES = ("fit", "evaluation", "none")
VALID = Path(__file__).resolve().parent / "corpus" / "valid.csv"


def with_mode(config: Config, mode: str) -> Config:
    """The configuration with this mode, trained quickly (bayes_logistic, one CV repeat)."""
    return dataclasses.replace(config, model=dataclasses.replace(
        config.model, propensity_weights=mode, candidates=("bayes_logistic",), cv_repeats=1,
        bootstrap_samples=20, backtest_periods=1, n_jobs=1))


@pytest.fixture(scope="module")
def labelled(config: Config) -> pd.DataFrame:
    """Three simulated months of 120 proposals, read as the loaders read them, whose
    propensities range from 1 (the trial month) down to below the clip."""
    history, _ = simulate_history(SimulationParams(periods=3, per_period=120, seed=4))
    rng = np.random.default_rng(4)
    history["acceptance_propensity"] = rng.choice([1.0, 0.7, 0.3, 0.08, 0.02], len(history))
    raw = read_bytes_table(csv_bytes(history), "history.csv")
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    return validate_frame(raw, config, labelled=True)


def inverse_propensity(proposals: pd.DataFrame, config: Config) -> np.ndarray:
    """1 / max(propensity, clip), computed here rather than by the product."""
    propensity = proposals["acceptance_propensity"].to_numpy(float)
    return 1.0 / np.maximum(propensity, config.model.propensity_clip)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_weights_the_fits_and_the_metrics_as_it_says(
        mode: str, labelled: pd.DataFrame, config: Config) -> None:
    data = prepare(labelled, with_mode(config, mode))
    weights, ones = inverse_propensity(labelled, config), np.ones(len(labelled))
    assert weights.max() > 1.0  # some rows do stand for declined proposals
    np.testing.assert_allclose(data.weights, weights if mode == "fit" else ones)
    np.testing.assert_allclose(data.scoring_weights, ones if mode == "none" else weights)
    half = np.arange(len(labelled)) % 2 == 0
    np.testing.assert_allclose(subset(data, half).scoring_weights, data.scoring_weights[half])


def test_evaluation_fits_as_none_does_and_fit_fits_differently(
        labelled: pd.DataFrame, config: Config) -> None:
    probability = {}
    for mode in MODES:
        cfg = with_mode(config, mode)
        model, _ = fit_procedure(BAYES_SPEC, prepare(labelled, cfg), cfg, seed=0)
        probability[mode] = model.predict_proba(labelled)
    np.testing.assert_array_equal(probability["evaluation"], probability["none"])
    assert np.abs(probability["fit"] - probability["none"]).max() > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_the_backtest_and_the_cross_validated_metrics_are_weighted_unless_none(
        mode: str, labelled: pd.DataFrame, config: Config) -> None:
    cfg = with_mode(config, mode)
    data = prepare(labelled, cfg)
    newest = data.periods == data.periods.max()
    row, y, p, _ = backtest_period(BAYES_SPEC, subset(data, ~newest), subset(data, newest), cfg,
                                   0, str(data.periods.max()))
    weights = inverse_propensity(labelled, config)
    expected = np.ones(len(y)) if mode == "none" else weights[newest]
    assert row["log_loss"] == pytest.approx(log_loss(y, p, expected))
    assert log_loss(y, p, weights[newest]) != pytest.approx(log_loss(y, p, np.ones(len(y))))
    result = train_model(labelled, cfg, seed=0)
    every = np.ones(len(labelled)) if mode == "none" else weights
    assert result.metrics["log_loss"]["value"] == pytest.approx(
        log_loss(data.y, result.oof_probability, every))
    assert result.backtest_metrics["log_loss"]["value"] == pytest.approx(row["log_loss"])


@pytest.mark.parametrize("mode", MODES)
def test_the_gate_compares_on_the_newest_month_weighted_unless_none(
        mode: str, labelled: pd.DataFrame, config: Config) -> None:
    cfg = with_mode(config, mode)
    periods = labelled["trial_period"].astype(str)
    is_newest = (periods == periods.max()).to_numpy()
    past, newest = labelled[~is_newest], labelled[is_newest]
    model, _ = fit_procedure(BAYES_SPEC, prepare(past, cfg), cfg, seed=1)
    champion: Any = SimpleNamespace(model=model, training=SimpleNamespace(
        periods=sorted(set(periods[~is_newest]))))
    challenger: Any = SimpleNamespace(chosen_kind="bayes_logistic", chosen_params={})
    champion_metrics, _, how, same = compare_on_newest(champion, challenger, labelled, cfg,
                                                       seed=0)
    y = newest["real_impact"].to_numpy(float)
    weights = (np.ones(len(y)) if mode == "none"
               else inverse_propensity(newest, config))
    assert how == "champion as it is"
    # The champion is the challenger's procedure on the same periods: the gate says so.
    assert same.startswith(f"Retrained without {periods.max()}, the challenger's procedure "
                           "gives the champion's own scores")
    assert champion_metrics["log_loss"]["value"] == pytest.approx(
        log_loss(y, model.predict_proba(newest), weights))


def test_a_champion_learned_otherwise_is_compared_without_that_remark(
        labelled: pd.DataFrame, config: Config) -> None:
    periods = labelled["trial_period"].astype(str)
    is_newest = (periods == periods.max()).to_numpy()
    earlier = labelled[~is_newest & (periods != periods.min()).to_numpy()]
    model, _ = fit_procedure(BAYES_SPEC, prepare(earlier, config), config, seed=1)
    champion: Any = SimpleNamespace(model=model, training=SimpleNamespace(
        periods=sorted(set(periods[~is_newest]))))
    challenger: Any = SimpleNamespace(chosen_kind="bayes_logistic", chosen_params={})
    _, _, how, same = compare_on_newest(champion, challenger, labelled, config, seed=0)
    assert how == "champion as it is" and same == ""


def _champion_through(labelled: pd.DataFrame, config: Config, last: str) -> Any:
    """A champion trained by bayes_logistic on the periods up to `last`."""
    periods = labelled["trial_period"].astype(str)
    model, _ = fit_procedure(BAYES_SPEC, prepare(labelled[(periods <= last).to_numpy()], config),
                             config, seed=1)
    return SimpleNamespace(model=model, training=SimpleNamespace(
        periods=sorted(set(periods[periods <= last])), chosen_kind="bayes_logistic",
        chosen_params={}, data=summarise_data(prepare(labelled, config), config)))


@pytest.mark.parametrize("backwards", ["none", "last", "newest"])
def test_looking_back_measures_what_the_last_period_did_to_the_next(
        backwards: str, labelled: pd.DataFrame, config: Config) -> None:
    """The champion learned months 1-2 and month 3 is the newest: looking back compares it
    with the same procedure on month 1 alone, both scoring month 3. A month recorded
    backwards (the last one learned, or the newest) makes the champion worse there, and
    the check names the month to look at first: the one the procedure on month 1 scores
    worse."""
    cfg = with_mode(config, "none")
    periods = labelled["trial_period"].astype(str)
    first, second, newest = sorted(set(periods))
    proposals = labelled.copy()
    if backwards != "none":
        inside = (periods == (second if backwards == "last" else newest)).to_numpy()
        proposals.loc[inside, "real_impact"] = 1 - proposals.loc[inside, "real_impact"]
    back = look_back(_champion_through(proposals, cfg, second), proposals, cfg, seed=0)
    assert back is not None and (back.learned, back.newest) == (second, newest)
    assert back.rows == int((periods == second).sum())
    alone, _ = fit_procedure(BAYES_SPEC, prepare(proposals[(periods == first).to_numpy()], cfg),
                             cfg, seed=0)
    for period in (second, newest):
        rows = proposals[(periods == period).to_numpy()]
        y = rows["real_impact"].to_numpy(float)
        assert back.earlier_loss[period] == pytest.approx(
            log_loss(y, alone.predict_proba(rows), np.ones(len(y))))
    assert back.before["log_loss"]["value"] == back.earlier_loss[newest]
    gap = back.after["log_loss"]["value"] - back.before["log_loss"]["value"]
    tolerance = cfg.gate.log_loss_tolerance
    if backwards == "none":
        assert gap < tolerance and back.suspect == "" and "worse" not in back.text
        return
    suspect = second if backwards == "last" else newest
    assert gap > tolerance and back.suspect == suspect
    assert (f"learning them made the scores of {newest} worse by more than the gate's "
            f"tolerance ({tolerance:.4f}), so the outcomes of {second} and {newest} "
            "disagree") in back.text
    assert f"check {suspect}'s outcomes first" in back.text


def test_a_worse_look_back_within_chance_still_says_where_to_look(
        labelled: pd.DataFrame, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the tolerance but within chance (here: chance set wide), the look-back concludes
    nothing, and still names the period to check first if anything is wrong."""
    import pipelines.jobs.retrain as retrain

    cfg = with_mode(config, "none")
    periods = labelled["trial_period"].astype(str)
    _, second, _ = sorted(set(periods))
    proposals = labelled.copy()
    inside = (periods == second).to_numpy()
    proposals.loc[inside, "real_impact"] = 1 - proposals.loc[inside, "real_impact"]
    champion = _champion_through(proposals, cfg, second)
    harmed = look_back(champion, proposals, cfg, seed=0)
    assert harmed is not None and (harmed.call, harmed.suspect) == ("harmed", second)
    monkeypatch.setattr(retrain, "LOOK_BACK_Z", 1e6)
    back = look_back(champion, proposals, cfg, seed=0)
    assert back is not None and back.call == "unclear" and back.suspect == second
    assert "too small to tell" in back.text and "disagree" not in back.text
    assert f"The scores got worse, so if anything is wrong: Without {second}" in back.text
    assert back.text.endswith(f"{second}'s outcomes are the ones to check first.")
    assert back.to_json()["suspect"] == second


def test_nothing_to_look_back_on_when_the_store_changed_or_outcomes_are_too_few(
        labelled: pd.DataFrame, config: Config) -> None:
    cfg = with_mode(config, "none")
    periods = labelled["trial_period"].astype(str)
    first, second, _ = sorted(set(periods))
    champion = _champion_through(labelled, cfg, second)
    # A learned period replaced since (one outcome changed) or gone from the store.
    changed = labelled.copy()
    row = changed.index[(periods == first).to_numpy()][0]
    changed.loc[row, "real_impact"] = 1 - changed.loc[row, "real_impact"]
    assert look_back(champion, changed, cfg, seed=0) is None
    assert look_back(champion, labelled[(periods != first).to_numpy()], cfg, seed=0) is None
    # Earlier periods without an outcome of both kinds: the procedure cannot be refitted.
    none_yet = labelled.copy()
    none_yet.loc[(periods == first).to_numpy(), "real_impact"] = 0
    assert look_back(_champion_through(none_yet, cfg, second), none_yet, cfg, seed=0) is None
    assert look_back(champion, labelled, cfg, seed=0) is not None


def test_nothing_to_look_back_on_without_two_learned_periods_before_the_newest(
        labelled: pd.DataFrame, config: Config) -> None:
    cfg = with_mode(config, "none")
    first, _, newest = sorted(set(labelled["trial_period"].astype(str)))
    assert look_back(_champion_through(labelled, cfg, first), labelled, cfg, seed=0) is None
    # A champion that has seen the newest period has nothing unseen to be judged on.
    assert look_back(_champion_through(labelled, cfg, newest), labelled, cfg, seed=0) is None


def test_an_unknown_mode_exits_2_naming_the_key_and_the_values(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = yaml.safe_load(default_config_text())
    raw["model"]["propensity_weights"] = "weighted"
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(path), "validate", str(VALID)])
    err = " ".join(capsys.readouterr().err.split())
    assert stop.value.code == 2
    assert "model.propensity_weights: expected one of fit, evaluation, none, got 'weighted'" in err


def test_the_shipped_mode_is_the_schema_default() -> None:
    shipped = read_config(None)[0].model.propensity_weights
    assert shipped == ModelSettings().propensity_weights
    assert shipped in MODES


@pytest.mark.parametrize("mode", MODES)
def test_the_model_card_says_how_propensities_were_used(
        mode: str, labelled: pd.DataFrame, config: Config) -> None:
    summary = train_model(labelled, with_mode(config, mode), seed=0).data_summary
    card = model_card(TrainingRecord.from_json({"data": summary}), {})
    weighted_fits = "training weights rows by inverse acceptance propensity" in card
    assert summary["propensity_weights"] == mode and weighted_fits == (mode == "fit")
    assert ("gate figures weight them by inverse acceptance propensity" in card) == (
        mode == "evaluation")
    older = model_card(TrainingRecord.from_json({"data": {
        k: v for k, v in summary.items() if k != "propensity_weights"}}), {})
    assert "training weights rows by inverse acceptance propensity" in older

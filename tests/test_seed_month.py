"""The first trial month: 28 proposals, 3 with real impact, trained as a team would train it.

Through the training job (MLflow store, shap check, registry, exported champion) with
the shipped configuration and with the French example, then scored from the exported
champion with an interval for every probability.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE

from model.config import Config
from model.explain import explain, reasons
from model.training import TrainingResult
from pipelines.jobs.predict import run_predict
from pipelines.jobs.train import TrainOutcome, load_labelled, run_training
from pipelines.settings import Workspace, read_config
from pipelines.storage.bundle import load_bundle

os.environ.setdefault("OMP_NUM_THREADS", "1")
SEED_MONTH = SAMPLE / "seed_month.csv"
FRENCH = Path(__file__).resolve().parent.parent / "pipelines" / "conf" / "exemple-fr.yaml"


def _train(directory: Path, config_path: Path | None) -> tuple[Workspace, Config, TrainOutcome]:
    config, text = read_config(config_path)
    workspace = Workspace.resolve(directory)
    proposals = load_labelled([SEED_MONTH], config)
    return workspace, config, run_training(workspace, config, text, proposals, str(SEED_MONTH))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Config, TrainOutcome]:
    return _train(tmp_path_factory.mktemp("seed"), None)


def _check_provisional(result: TrainingResult) -> None:
    assert result.chosen.kind == "bayes_logistic"
    assert result.provisional and (result.positives, result.negatives) == (3, 25)
    assert any("provisional" in w for w in result.warnings)
    assert any("NO BACKTEST" in w for w in result.warnings), "one month: nothing earlier"
    assert result.backtest_metrics == {}
    assert {b.verdict for b in result.beliefs} <= {"confirmed", "contradicted", "uncertain"}
    assert len(result.beliefs) >= 7


def test_the_seed_month_trains_into_a_provisional_champion(
        shipped: tuple[Workspace, Config, TrainOutcome]) -> None:
    workspace, _, outcome = shipped
    _check_provisional(outcome.result)
    assert outcome.alias == "champion" and outcome.training.shap is not None
    assert outcome.training.shap["max_difference"] < 1e-9
    bundle = load_bundle(workspace.champion)
    assert bundle.model.covariance is not None


def test_the_champion_scores_new_proposals_with_intervals(
        shipped: tuple[Workspace, Config, TrainOutcome]) -> None:
    workspace, _, _ = shipped
    batch, _ = run_predict(workspace.champion, str(SAMPLE / "new_proposals.csv"))
    bundle = load_bundle(workspace.champion)
    proposals = load_labelled([SEED_MONTH], bundle.config)
    p = bundle.model.predict_proba(proposals)
    interval = bundle.model.probability_interval(proposals)
    assert interval is not None
    low, high = interval
    assert np.all(low <= p) and np.all(p <= high) and np.all(high - low > 0.02)
    assert len(batch.proposals) > 0 and all(0 < r.impact_probability < 1 for r in batch.proposals)


def test_the_french_example_trains_on_the_seed_month_and_explains_in_french(
        tmp_path: Path) -> None:
    workspace, config, outcome = _train(tmp_path, FRENCH)
    _check_provisional(outcome.result)
    strict = next(b for b in outcome.result.beliefs if b.feature == "product_ready")
    assert strict.low >= 0, "a strict belief's interval stops at zero"
    bundle = load_bundle(workspace.champion)
    proposals = load_labelled([SEED_MONTH], bundle.config)
    explained = reasons(explain(bundle.model, proposals), proposals,
                        bundle.model.encoder.described, top=3)
    labels = {item["label"] for items, _, _ in explained for item in items}
    assert {"Plan d'action prévu", "Pas de plan d'action", "Produit du partenaire finalisé",
            "Pas d'objectif mesurable"} <= labels
    worded = {text for name in ("partnership_type", "lifecycle_position", "sector_proximity")
              for text in config.by_name[name].levels_describe.values()}
    assert labels & worded, "category levels read in the team's words"
    assert not {"Has an action plan", "No action plan"} & labels
    assert {c.label for c in config.features} >= {"Plan d'action", "Place dans le parcours de nos clients"}


def test_a_team_that_believed_in_partners_of_its_own_sector_is_told_the_outcomes_say_otherwise(
        ) -> None:
    """The seed story: a team believed partners close to its own sector were the best ones;
    its trial months showed they led nowhere, and the place in the customer's journey
    mattered. Stated as a belief on the sector_proximity levels (so declared a category),
    twelve months of the sample history contradict it in words, and confirm the journey."""
    import yaml

    from model.config import parse_config
    from model.training import train_model
    from pipelines.jobs.train import belief_records
    from pipelines.settings import default_config_text
    from pipelines.storage.readers import load_proposals

    raw = yaml.safe_load(default_config_text())
    raw["columns"]["sector_proximity"].update(
        type="category", belief={"levels": {"same": "favourable"}})
    raw["model"].update(candidates=["bayes_logistic"], cv_repeats=1, bootstrap_samples=20,
                        backtest_periods=1, n_jobs=1)
    config = parse_config(raw)
    result = train_model(load_proposals(SAMPLE / "history.csv", config, labelled=True),
                         config, seed=0)
    records = {record.key: record for record in
               belief_records(result.beliefs, result.model.encoder.described)}
    same = records["sector_proximity", "same"]
    assert same.verdict == "contradicted" and same.interval[1] < 0
    assert same.sentence().startswith(
        "“Partner works in our own sector” raises impact: contradicted (-")
    assert {records["lifecycle_position", level].verdict
            for level in ("upstream", "downstream", "same_stage")} == {"confirmed"}


def test_a_month_without_an_optional_feature_column_trains_and_counts_it_missing(
        tmp_path: Path) -> None:
    """`inbound` is optional: a file without the column trains, and the model counts the
    column's evidence as missing in every proposal."""
    import pandas as pd

    from model.training import evidence

    config, text = read_config(None)
    assert config.by_name["inbound"].required == "no"
    month = pd.read_csv(SEED_MONTH).drop(columns=["inbound"])
    source = tmp_path / "without_inbound.csv"
    month.to_csv(source, index=False)
    proposals = load_labelled([source], config)
    assert "inbound" not in proposals
    y = proposals["real_impact"].to_numpy(float)
    assert evidence(proposals, y, config)["inbound"] == {"missing": [28, 3]}
    outcome = run_training(Workspace.resolve(tmp_path / "ws"), config, text, proposals,
                           str(source))
    assert outcome.training.evidence["inbound"] == {"missing": [28, 3]}

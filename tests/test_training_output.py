"""What `train` says about a first trial month: provisional, and each belief against the outcomes.

The session's seed workspace is trained on `data/sample/seed_month.csv` (28 proposals,
3 with real impact) through `partnerscore train --format json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SeedTrained, Trained
from mlflow import MlflowClient

from pipelines.cli.console import out, training_summary
from pipelines.documents import BeliefRecord, TrainingRecord
from pipelines.report.card import model_card
from pipelines.settings import Workspace
from pipelines.storage.bundle import load_bundle

BELIEF_KEYS = {"feature", "label", "prior", "effect", "interval", "verdict"}
LEARNED_KEYS = BELIEF_KEYS - {"prior"}
VERDICTS = {"confirmed", "contradicted", "uncertain"}
PROVISIONAL = "provisional: learned from 3 proposals with real impact"


def test_train_json_reports_provisional_beliefs_and_learned_effects(seed_trained: SeedTrained) -> None:
    summary = seed_trained.summary
    assert summary["provisional"] is True
    assert (summary["data"]["rows"], summary["data"]["positives"]) == (28, 3)
    assert summary["beliefs"], "the shipped configuration states beliefs"
    for entry in summary["beliefs"]:
        level = {"level"} if entry["feature"] == "lifecycle_position" else set()
        assert set(entry) == BELIEF_KEYS | level, entry
        assert entry["verdict"] in VERDICTS and entry["prior"]["direction"] in (-1, 1)
        low, high = entry["interval"]
        assert low <= entry["effect"] <= high
        assert entry["label"].endswith("raises impact" if entry["prior"]["direction"] > 0
                                       else "lowers impact")
    for entry in summary["learned"]:
        assert set(entry) - {"level"} == LEARNED_KEYS and entry["verdict"] == "learned"
    levels = {e["level"] for e in summary["beliefs"] if "level" in e}
    assert levels == {"upstream", "downstream", "same_stage"}
    labels = {e["label"] for e in summary["beliefs"]}
    assert "Action plan raises impact" in labels
    assert "“Partner sits at the same stage of our customer's journey” lowers impact" in labels


def _client(workspace: Workspace) -> MlflowClient:
    """A client of this workspace's own store (MLflow's variables may name another's)."""
    uri = f"sqlite:///{workspace.mlflow_db}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_the_registered_version_and_its_card_say_provisional(seed_trained: SeedTrained,
                                                             trained: Trained, tmp_path: Path) -> None:
    client = _client(seed_trained.workspace)
    version = client.get_model_version("partnerscore", "1")
    assert version.tags["provisional"] == "true" and version.run_id is not None
    card = Path(client.download_artifacts(version.run_id, "model_card.md", str(tmp_path))).read_text()
    assert f"Scores are {PROVISIONAL}" in card and "## Beliefs against the outcomes" in card
    assert "| Action plan raises impact | " in card and "| belief | verdict |" in card
    settled = _client(trained.workspace).get_model_version("partnerscore", "1")
    assert settled.tags["provisional"] == "false"


def test_train_text_prints_the_provisional_line_and_each_belief_in_words(
        seed_trained: SeedTrained) -> None:
    training = load_bundle(seed_trained.workspace.champion).training
    with out.capture() as captured:
        training_summary(training, "1", "champion", "partnerscore", 50, 0.9)
    text = " ".join(captured.get().split())
    assert f"Scores are {PROVISIONAL}, fewer than the 50" in text
    assert "1 period (2024-09 to 2024-09)" in text
    for entry in [*training.beliefs, *training.learned]:
        assert " ".join(entry.sentence().split()) in text
    assert text.index(PROVISIONAL) < text.index("Data: 28 labelled proposals")
    assert "Cross-validated metrics (90% interval) ┏" in text  # the title on one line
    assert "┃ metric ┃ value [interval] ┃" in text
    auc = training.metrics["roc_auc"]  # one month ranked perfectly is not settled
    assert f"roc_auc │ {auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in text
    assert auc["low"] < 0.9


def _record(**fields: object) -> TrainingRecord:
    return TrainingRecord.from_json({"data": {"rows": 28, "positives": 3, "periods": ["2024-09"],
                                              "effective_sample_size": 28.0, "cv_folds": 3},
                                     **fields})


def test_an_older_training_record_reads_as_settled_without_beliefs() -> None:
    older = _record()
    assert older.provisional is False and older.beliefs == [] and older.learned == []
    assert older.to_tags()["provisional"] == "false"
    card = model_card(older, {})
    assert "provisional" not in card and "No belief was checked" in card


def test_belief_records_round_trip_and_keep_the_schema() -> None:
    belief = BeliefRecord("has_action_plan", "Action plan raises impact", 0.62, (0.21, 1.05),
                          "confirmed", prior={"direction": 1, "strength": "moderate"})
    level = BeliefRecord("lifecycle_position", "“Partner sits upstream ...” raises impact", 0.4,
                         (-0.5, 1.3), "uncertain", level="upstream", prior={"direction": 1})
    learned = BeliefRecord("inbound", "Inbound lowers impact", -0.8, (-1.4, -0.2), "learned")
    record = _record(provisional=True, beliefs=[belief.to_json(), level.to_json()],
                     learned=[learned.to_json()])
    assert record.beliefs == [belief, level] and record.learned == [learned]
    written = json.loads(json.dumps(record.to_json()))
    assert [set(b) for b in written["beliefs"]] == [BELIEF_KEYS, BELIEF_KEYS | {"level"}]
    assert set(written["learned"][0]) == LEARNED_KEYS and written["provisional"] is True
    assert TrainingRecord.from_json(written) == record
    assert belief.sentence() == ("Action plan raises impact: confirmed (+0.62 log-odds: "
                                 "odds ×1.86; 90% interval +0.21 to +1.05)")
    assert learned.sentence(0.8).startswith(
        "Inbound lowers impact: learned (-0.80 log-odds: odds ×0.45; 80%")


@pytest.mark.parametrize("positives", [1, 3])
def test_the_card_counts_outcomes_in_words(positives: int) -> None:
    card = model_card(_record(provisional=True, data={
        "rows": 28, "positives": positives, "periods": ["2024-09"], "effective_sample_size": 28.0,
        "cv_folds": 3}), {})
    noun = "proposal" if positives == 1 else "proposals"
    assert f"provisional: learned from {positives} {noun} with real impact" in card


def test_models_lists_each_version_s_auc_with_its_interval(
        seed_trained: SeedTrained, capsys: pytest.CaptureFixture[str]) -> None:
    """Three outcomes ranked perfectly read 1.000 with their wide interval, not as the best
    version there is."""
    from pipelines.cli.app import main

    auc = load_bundle(seed_trained.workspace.champion).training.metrics["roc_auc"]
    main(["--workspace", str(seed_trained.workspace.root), "models"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in text
    assert auc["low"] < 0.9 and "CV AUC [interval]" in text


def test_train_text_shows_the_comparison_that_chose_the_model(seed_trained: SeedTrained,
                                                              trained: Trained) -> None:
    texts = []
    for workspace in (seed_trained.workspace, trained.workspace):
        training = load_bundle(workspace.champion).training
        with out.capture() as captured:
            training_summary(training, "1", "champion", "partnerscore", 50, 0.9)
        texts.append((training, " ".join(captured.get().split())))
    (seed, seed_text), (settled, settled_text) = texts
    assert len(seed.candidates) == 1
    assert f"Model: {seed.chosen}, the only candidate trained on this data" in seed_text
    assert len(settled.candidates) > 1
    best = min(settled.candidates, key=lambda c: c["cv_log_loss"])
    assert best["name"] == settled.chosen
    assert (f"Chosen model: {settled.chosen}, the lowest cross-validated log loss of "
            f"{len(settled.candidates)} candidates") in settled_text
    for c in settled.candidates:
        assert f"{c['name']} {c['cv_log_loss']:.4f}" in settled_text

"""Retraining after a trial period: the gate, promotion, rollback and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import split_history
from mlflow import MlflowClient

from model.config import Config
from pipelines.cli.lifecycle import promote
from pipelines.documents import TrainingRecord
from pipelines.jobs.ingest import ingest_file
from pipelines.jobs.retrain import VerdictChange, changes_text, run_retrain, verdict_changes
from pipelines.jobs.train import run_training
from pipelines.settings import Workspace, default_config_text, load_config
from pipelines.storage.bundle import exported_version, load_bundle


def _fast_config(tmp_path: Path, **gate: object) -> tuple[Config, str]:
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=40, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(gate)
    text = yaml.safe_dump(raw)
    path = tmp_path / "fast.yaml"
    path.write_text(text)
    return load_config(path), text


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, Path]:
    return split_history(tmp_path)


def _client(workspace: Workspace) -> MlflowClient:
    """A client reading the workspace's registry (not MLflow's process-wide one)."""
    return MlflowClient(workspace.tracking_uri(), workspace.tracking_uri())


def _aliases(workspace: Workspace) -> dict[str, str]:
    model = _client(workspace).get_registered_model("partnerscore")
    return {alias: str(version) for alias, version in model.aliases.items()}


def _first_champion(tmp_path: Path, config: Config, text: str, earlier: Path) -> Workspace:
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, earlier)
    from pipelines.storage import store

    frame = store.read_all(workspace, config)
    assert frame is not None
    run_training(workspace, config, text, frame, "store")
    return workspace


def test_gate_pass_promotes_and_keeps_previous(tmp_path: Path, split: tuple[Path, Path]) -> None:
    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    outcome = run_retrain(workspace, config, text, split[1], period="2025-12")
    assert outcome.promoted and outcome.ingested == {"2025-12": "stored"}
    assert _aliases(workspace) == {"champion": "2", "previous": "1"}
    assert exported_version(workspace.champion) == "2"
    assert load_bundle(workspace.champion).training.periods[-1] == "2025-12"
    client = _client(workspace)
    version = client.get_model_version("partnerscore", "2")
    assert version.tags["gate.passed"] == "true" and "2025-12" in version.tags["gate.reason"]
    # The champion learned the same periods by the same procedure: the gate says it could
    # not tell them apart rather than claiming a comparison.
    rows = int((pd.read_csv(split[1])["trial_period"] == "2025-12").sum())
    assert (f"Retrained without 2025-12, the challenger's procedure gives the champion's own "
            f"scores on all {rows} proposals") in version.tags["gate.reason"]
    assert f"from 2025-12's {rows} outcomes" in version.tags["gate.reason"]
    assert outcome.same_model and outcome.same_model in version.tags["gate.reason"]
    # So it looks back instead: the champion against its procedure without the last period
    # it learned, both on 2025-12, which neither saw; the champion's figure is the gate's.
    back = outcome.hindsight
    champion_periods = load_bundle(workspace.champion).training.periods[:-1]
    assert back is not None and back.newest == "2025-12" and back.learned == champion_periods[-1]
    assert back.after["log_loss"] == outcome.decision.champion["log_loss"]
    assert back.before["log_loss"]["value"] != back.after["log_loss"]["value"]
    assert back.text.startswith("Looking back at the champion's last period (2025-11): on 2025-12")
    assert back.text in version.tags["gate.reason"]
    gate = client.download_artifacts(version.run_id, "gate.json", str(tmp_path))
    assert json.loads(Path(gate).read_text())["hindsight"] == json.loads(
        json.dumps(back.to_json()))
    card = client.download_artifacts(version.run_id, "model_card.md", str(tmp_path))
    assert "Gate PASSED" in Path(card).read_text()
    changes = client.download_artifacts(version.run_id, "verdict_changes.txt", str(tmp_path))
    assert Path(changes).read_text() == changes_text(outcome.verdict_changes)
    # The period's weak signals are kept for decide, report and surprises.
    from pipelines.jobs.surprises import kept_weak_signals

    assert outcome.weak_signals is not None
    assert kept_weak_signals(workspace, config, 0) == outcome.weak_signals


def test_gate_fail_leaves_the_champion_untouched(tmp_path: Path, split: tuple[Path, Path]) -> None:
    config, text = _fast_config(tmp_path, log_loss_tolerance=-1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    before = (workspace.champion / "manifest.json").read_bytes()
    outcome = run_retrain(workspace, config, text, split[1])
    assert not outcome.promoted and "log loss worse" in outcome.decision.reason
    assert _aliases(workspace) == {"champion": "1", "challenger": "2"}
    assert (workspace.champion / "manifest.json").read_bytes() == before
    tags = _client(workspace).get_model_version("partnerscore", "2").tags
    assert tags["gate.passed"] == "false"


def test_gate_fail_exit_status_is_documented_four(tmp_path: Path, split: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture) -> None:
    from pipelines.cli.app import main

    config_path = tmp_path / "strict.yaml"
    config, text = _fast_config(tmp_path, log_loss_tolerance=-1.0)
    config_path.write_text(text)
    workspace = _first_champion(tmp_path, config, text, split[0])
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(workspace.root), "--config", str(config_path), "retrain",
              str(split[1])])
    assert stop.value.code == 4
    out = capsys.readouterr().out
    assert "No verdict changed since the champion's." in out or "Verdicts changed" in out


def test_rollback_and_manual_promotion_move_the_aliases(tmp_path: Path,
                                                        split: tuple[Path, Path]) -> None:
    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    run_retrain(workspace, config, text, split[1])
    promote(workspace, config, None, rollback=True)
    assert _aliases(workspace) == {"champion": "1", "previous": "2"}
    assert exported_version(workspace.champion) == "1"
    promote(workspace, config, "2", rollback=False)
    assert _aliases(workspace)["champion"] == "2"
    assert exported_version(workspace.champion) == "2"
    tags = _client(workspace).get_model_version("partnerscore", "2").tags
    assert tags["promotion"].startswith("promoted by hand")


def _belief(verdict: str, feature: str = "has_action_plan", level: str | None = None,
            label: str = "Action plan raises impact") -> dict:
    entry = {"feature": feature, "label": label, "prior": {"direction": 1, "strength": "moderate"},
             "effect": 0.5, "interval": [0.1, 0.9], "verdict": verdict}
    return {**entry, "level": level} if level else entry


def _training(beliefs: list[dict], learned: list[dict] | None = None) -> TrainingRecord:
    return TrainingRecord.from_json({"beliefs": beliefs, "learned": learned or []})


def test_verdict_changes_name_the_beliefs_whose_verdict_moved() -> None:
    same_stage = dict(feature="lifecycle_position", level="same_stage",
                      label="“Partner sits at the same stage of our customer's journey” lowers impact")
    champion = _training([_belief("uncertain"), _belief("uncertain", **same_stage)])
    challenger = _training([_belief("confirmed"), _belief("uncertain", **same_stage)])
    (change,) = verdict_changes(champion, challenger)
    assert change == VerdictChange("Action plan raises impact", "uncertain", "confirmed")
    assert change.text == "Action plan raises impact: uncertain → confirmed"
    assert verdict_changes(champion, champion) == []
    assert changes_text([]) == "No verdict changed since the champion's."
    assert changes_text(None) == "No champion to compare the verdicts with."
    assert changes_text([change]) == ("Verdicts changed since the champion's:\n"
                                      "- Action plan raises impact: uncertain → confirmed")


def test_verdict_changes_cover_new_beliefs_and_learned_effects() -> None:
    learned = {"feature": "inbound", "label": "Inbound lowers impact", "effect": -0.8,
               "interval": [-1.4, -0.2], "verdict": "learned"}
    older = _training([])  # a champion trained before beliefs were recorded
    challenger = _training([_belief("contradicted")], [learned])
    assert [c.text for c in verdict_changes(older, challenger)] == [
        "Action plan raises impact: not checked → contradicted",
        "Inbound lowers impact: no clear effect → learned"]
    assert [c.text for c in verdict_changes(_training([], [learned]), older)] == [
        "Inbound lowers impact: learned → no clear effect"]


def test_a_champion_trained_from_a_file_is_not_replaced_by_a_store_that_lacks_its_periods(
        tmp_path: Path, split: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """`train --data` does not fill the store: a retrain learning from the store alone would
    put a model of one period in place of one of eleven. It is refused, nothing stored."""
    from pipelines.cli.app import main
    from pipelines.jobs.train import load_labelled
    from pipelines.storage import store

    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    config_path = tmp_path / "fast.yaml"
    workspace = Workspace(tmp_path / "ws")
    run_training(workspace, config, text, load_labelled([split[0]], config), str(split[0]))
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(workspace.root), "--config", str(config_path), "retrain",
              str(split[1])])
    assert stop.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert ("the champion (version 1) learned 11 trial periods (2025-01 to 2025-11), and the "
            "labelled store lacks 11 of them (2025-01, 2025-02, 2025-03, … 2025-11)") in message
    assert "partnerscore ingest FILE" in message and "Nothing was stored or trained" in message
    assert store.read_manifest(workspace)["periods"] == {}
    assert _aliases(workspace) == {"champion": "1"}
    ingest_file(workspace, config, split[0])  # what the message says to do
    outcome = run_retrain(workspace, config, text, split[1])
    assert outcome.promoted and outcome.training.periods[0] == "2025-01"


def test_a_period_stored_in_part_is_refused_like_a_missing_one(
        tmp_path: Path, split: tuple[Path, Path]) -> None:
    """A period stored from another, shorter file would let the challenger learn fewer
    outcomes than the champion: refused, naming the period and both counts."""
    from model.errors import TrainingRefused
    from pipelines.jobs.train import load_labelled

    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = Workspace(tmp_path / "ws")
    run_training(workspace, config, text, load_labelled([split[0]], config), str(split[0]))
    history = pd.read_csv(split[0])
    short = history.drop(history.index[history["trial_period"] == "2025-03"][10:])
    short_file = tmp_path / "short.csv"
    short.to_csv(short_file, index=False)
    ingest_file(workspace, config, short_file)
    held = int((short["trial_period"] == "2025-03").sum())
    learned = int((history["trial_period"] == "2025-03").sum())
    with pytest.raises(TrainingRefused) as refused:
        run_retrain(workspace, config, text, split[1])
    message = str(refused.value)
    assert (f"the champion (version 1) learned 11 trial periods (2025-01 to 2025-11), and the "
            f"labelled store holds fewer proposals than it learned in 1 period (2025-03: "
            f"{held} of {learned})") in message and "--replace" in message
    from pipelines.storage import store

    assert "2025-12" not in store.read_manifest(workspace)["periods"]  # nothing stored
    ingest_file(workspace, config, split[0], replace=True)  # what the message says to do
    assert run_retrain(workspace, config, text, split[1]).promoted


def test_a_store_of_one_period_promotes_without_a_comparison_it_cannot_make(
        tmp_path: Path, split: tuple[Path, Path]) -> None:
    """With nothing stored before the newest period, no model can be retrained without it:
    the gate says so instead of failing on an empty history. (The team changed its
    configuration after the first month: with the same one, nothing would be retrained.)"""
    config, text = _fast_config(tmp_path, log_loss_tolerance=-1.0)
    workspace = _first_champion(tmp_path, config, text, split[1])  # 2025-12 alone
    config, text = _fast_config(tmp_path, log_loss_tolerance=-0.5)
    outcome = run_retrain(workspace, config, text, None)
    assert outcome.promoted and outcome.decision.reason.startswith(
        "no comparison: before 2025-12 the store holds 0 proposals, 0 with real impact")
    assert outcome.drift["features"] == [] and outcome.drift["warnings"] == []
    tags = _client(workspace).get_model_version("partnerscore", "2").tags
    assert tags["gate.passed"] == "true" and "no comparison" in tags["gate.reason"]


def test_retraining_on_the_store_the_champion_learned_registers_nothing(
        tmp_path: Path, split: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """Run twice with nothing new, `retrain` would register the champion again and push the
    real previous champion out of @previous: it says there is nothing new, exit 0. Another
    seed or another configuration is something new."""
    from pipelines.cli.app import main
    from pipelines.errors import NothingNew

    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    assert run_retrain(workspace, config, text, split[1]).promoted  # version 2, 2025-12 new
    for again in (None, split[1]):  # no file, or the same period's file again
        with pytest.raises(NothingNew, match="version 2 learned the labelled store as it is"):
            run_retrain(workspace, config, text, again)
    main(["--workspace", str(workspace.root), "--config", str(tmp_path / "fast.yaml"), "retrain"])
    assert "Nothing new since the champion" in " ".join(capsys.readouterr().out.split())
    assert _aliases(workspace) == {"champion": "2", "previous": "1"}
    assert run_retrain(workspace, config, text, None, seed=1).challenger == "3"  # a new seed
    config, text = _fast_config(tmp_path, log_loss_tolerance=0.5)  # a new configuration
    assert run_retrain(workspace, config, text, None, seed=1).challenger == "4"


def test_the_look_back_noise_is_the_standard_error_of_the_paired_difference() -> None:
    """The per-proposal log-loss differences of two models on the same proposals: their
    mean's standard error, as a paired t statistic uses it; weights scale it as they should."""
    import numpy as np

    from pipelines.jobs.retrain import paired_gap_se

    rng = np.random.default_rng(0)
    y = (rng.random(30) < 0.3).astype(float)
    before, after = rng.uniform(0.05, 0.9, 30), rng.uniform(0.05, 0.9, 30)

    def loss(p: np.ndarray) -> np.ndarray:
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    d = loss(after) - loss(before)
    assert paired_gap_se(y, before, after, np.ones(30)) == pytest.approx(
        d.std(ddof=1) / np.sqrt(30))
    assert paired_gap_se(y, before, after, np.full(30, 4.0)) == pytest.approx(
        d.std(ddof=1) / np.sqrt(30))  # equal weights change nothing
    assert paired_gap_se(y, before, before, np.ones(30)) == 0.0
    assert paired_gap_se(y[:1], before[:1], after[:1], np.ones(1)) == float("inf")


def test_versions_that_learned_a_period_replaced_since_are_named(
        tmp_path: Path, split: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """A period replaced with `ingest --replace` after a version learned it: `models` says
    so, and promoting that version back warns (rollback would bring the old content back)."""
    import time

    from pipelines.cli.app import main

    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    assert run_retrain(workspace, config, text, split[1]).promoted  # version 2 learns 2025-12
    time.sleep(1.1)  # the archive is stamped to the second
    corrected = pd.read_csv(split[1])
    corrected.loc[corrected.index[:3], "real_impact"] = ~corrected["real_impact"].iloc[:3]
    corrected_file = tmp_path / "corrected.csv"
    corrected.to_csv(corrected_file, index=False)
    ingest_file(workspace, config, corrected_file, replace=True)
    argv = ["--workspace", str(workspace.root), "--config", str(tmp_path / "fast.yaml")]
    capsys.readouterr()
    main([*argv, "models"])
    shown = " ".join(capsys.readouterr().out.split())
    assert ("Version 2 learned 2025-12 as stored before it was replaced (ingest --replace)"
            in shown) and "Version 1 learned" not in shown
    main([*argv, "rollback"])  # to version 1, which never learned 2025-12
    assert "as stored before it was replaced" not in capsys.readouterr().out
    main([*argv, "promote", "2"])
    assert "Version 2 learned 2025-12 as stored before it was replaced" in " ".join(
        capsys.readouterr().out.split())


def test_a_file_holding_part_of_a_stored_period_is_other_content_not_a_store_in_part(
        tmp_path: Path, split: tuple[Path, Path]) -> None:
    """retrain FILE whose rows of a stored period are fewer: the store still holds them all,
    so it is refused as other content (as ingest refuses it), never as a store in part."""
    from model.validation import ContractError

    config, text = _fast_config(tmp_path, log_loss_tolerance=1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    history = pd.read_csv(split[0])
    mixed = pd.concat([history[history["trial_period"] == "2025-03"].head(5),
                       pd.read_csv(split[1])])
    mixed_file = tmp_path / "mixed.csv"
    mixed.to_csv(mixed_file, index=False)
    with pytest.raises(ContractError) as refused:
        run_retrain(workspace, config, text, mixed_file)
    assert "this period is stored with other content" in str(refused.value)


def test_a_replacement_in_the_same_second_as_a_version_counts_as_after(tmp_path: Path) -> None:
    """The archive is stamped to the second: a replacement 0.5 s after a version's creation
    must not be missed (the check errs towards warning)."""
    from datetime import UTC, datetime

    from pipelines.storage import store

    workspace = Workspace(tmp_path / "ws")
    workspace.store.mkdir(parents=True)
    stamp = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    manifest = {"format": store.FORMAT, "periods": {},
                "archive": [{"period": "2025-12", "archived_at": stamp.isoformat()}]}
    (workspace.store / "manifest.json").write_text(json.dumps(manifest))
    created = int(stamp.timestamp() * 1000) + 300  # the version, 0.3 s into that second
    assert store.replaced_since(workspace, ["2025-11", "2025-12"], created) == ["2025-12"]
    assert store.replaced_since(workspace, ["2025-12"], created + 5000) == []
    assert store.replaced_since(workspace, ["2025-11"], created) == []

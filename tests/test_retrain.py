"""Retraining after a trial period: the gate, promotion, rollback and the model card."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import split_history
from mlflow import MlflowClient

from model.config import Config
from pipelines.cli.lifecycle import promote
from pipelines.jobs.ingest import ingest_file
from pipelines.jobs.retrain import run_retrain
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


def _aliases(workspace: Workspace) -> dict[str, str]:
    model = MlflowClient(workspace.tracking_uri()).get_registered_model("partnerscore")
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
    assert load_bundle(workspace.champion).training["data"]["periods"][-1] == "2025-12"
    client = MlflowClient(workspace.tracking_uri())
    version = client.get_model_version("partnerscore", "2")
    assert version.tags["gate.passed"] == "true" and "2025-12" in version.tags["gate.reason"]
    card = client.download_artifacts(version.run_id, "model_card.md", str(tmp_path))
    assert "Gate PASSED" in Path(card).read_text()


def test_gate_fail_leaves_the_champion_untouched(tmp_path: Path, split: tuple[Path, Path]) -> None:
    config, text = _fast_config(tmp_path, log_loss_tolerance=-1.0)
    workspace = _first_champion(tmp_path, config, text, split[0])
    before = (workspace.champion / "manifest.json").read_bytes()
    outcome = run_retrain(workspace, config, text, split[1])
    assert not outcome.promoted and "log loss worse" in outcome.decision.reason
    assert _aliases(workspace) == {"champion": "1", "challenger": "2"}
    assert (workspace.champion / "manifest.json").read_bytes() == before
    tags = MlflowClient(workspace.tracking_uri()).get_model_version("partnerscore", "2").tags
    assert tags["gate.passed"] == "false"


def test_gate_fail_exit_status_is_documented_four(tmp_path: Path, split: tuple[Path, Path]) -> None:
    from pipelines.cli.app import main

    config_path = tmp_path / "strict.yaml"
    config, text = _fast_config(tmp_path, log_loss_tolerance=-1.0)
    config_path.write_text(text)
    workspace = _first_champion(tmp_path, config, text, split[0])
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(workspace.root), "--config", str(config_path), "retrain",
              str(split[1])])
    assert stop.value.code == 4


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
    tags = MlflowClient(workspace.tracking_uri()).get_model_version("partnerscore", "2").tags
    assert tags["promotion"].startswith("promoted by hand")

"""End to end: training registers a tracked version and exports a verified champion."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import Trained
from mlflow import MlflowClient

from model.config import Config
from pipelines.storage.bundle import load_bundle


def test_the_run_has_its_metrics_dataset_and_artifacts(trained: Trained) -> None:
    client = MlflowClient(trained.workspace.tracking_uri(), trained.workspace.tracking_uri())
    run = client.get_run(trained.outcome.run_id)
    metrics = run.data.metrics
    for name in ("cv_roc_auc", "cv_roc_auc_low", "cv_roc_auc_high", "cv_log_loss", "cv_brier",
                 "cv_pr_auc", "cv_ece", "cv_precision_at_5"):
        assert name in metrics, name
    assert metrics["cv_roc_auc_low"] <= metrics["cv_roc_auc"] <= metrics["cv_roc_auc_high"]
    assert any(k.startswith("backtest_2025-12_") for k in metrics)
    assert run.data.params["chosen_model"] == trained.outcome.training.chosen
    assert run.data.params["config_digest"]
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == "labelled-proposals"
    artifacts = {a.path for a in client.list_artifacts(trained.outcome.run_id)}
    assert {"model_card.md", "reliability.png", "roc_pr.png", "importance.png",
            "importance.csv", "backtest.csv"} <= artifacts


def test_first_version_is_champion_with_descriptive_tags(trained: Trained) -> None:
    uri = trained.workspace.tracking_uri()
    version = MlflowClient(uri, uri).get_model_version_by_alias("partnerscore", "champion")
    assert str(version.version) == trained.outcome.version == "1"
    assert version.tags["periods"].startswith("2025-01")
    assert int(version.tags["positives"]) == int(trained.history["real_impact"].sum())
    assert version.tags["data_digest"] == trained.outcome.training.data_digest


def test_registry_pyfunc_and_exported_champion_agree_with_memory(
        trained: Trained, new_proposals: pd.DataFrame) -> None:
    import mlflow

    from pipelines.tracking.gateway import pinned
    from pipelines.tracking.serving import request_frame

    in_memory = trained.outcome.result.model.predict_proba(new_proposals)
    exported = load_bundle(trained.workspace.champion).model.predict_proba(new_proposals)
    with pinned(trained.workspace.tracking_uri()):
        pyfunc = mlflow.pyfunc.load_model("models:/partnerscore@champion")
    request = request_frame(new_proposals, load_bundle(trained.workspace.champion).config)
    served = pyfunc.predict(request)
    np.testing.assert_allclose(exported, in_memory, atol=1e-12)
    np.testing.assert_allclose(served["impact_probability"].to_numpy(), in_memory, atol=1e-12)
    assert list(served["proposal_id"]) == list(new_proposals["proposal_id"])


def test_a_second_training_becomes_challenger_and_leaves_the_champion(
        trained: Trained, config: Config) -> None:
    from pipelines.jobs.train import run_training
    from pipelines.settings import default_config_text

    before = (trained.workspace.champion / "manifest.json").read_bytes()
    outcome = run_training(trained.workspace, config, default_config_text(), trained.history,
                           "history", seed=1)
    client = MlflowClient(trained.workspace.tracking_uri(), trained.workspace.tracking_uri())
    assert outcome.alias == "challenger"
    assert str(client.get_model_version_by_alias("partnerscore", "challenger").version) == outcome.version
    assert str(client.get_model_version_by_alias("partnerscore", "champion").version) == "1"
    assert (trained.workspace.champion / "manifest.json").read_bytes() == before

"""The training job: labelled proposals in, a tracked, registered and exported model out."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.config import Config
from model.training import TrainingResult, train_model
from model.validation import ContractError, Problem
from pipelines.settings import Workspace
from pipelines.storage.atomic import write_atomic
from pipelines.storage.bundle import write_bundle
from pipelines.storage.readers import load_proposals


@dataclass(frozen=True)
class TrainOutcome:
    """What `partnerscore train` reports."""

    result: TrainingResult
    training: dict[str, Any]
    version: str
    run_id: str
    alias: str
    model_name: str


def load_labelled(files: list[Path], config: Config) -> pd.DataFrame:
    """Validate and combine labelled files; a proposal id may appear only once overall."""
    frames = [load_proposals(f, config, labelled=True) for f in files]
    id_column = config.role("id")
    seen: dict[str, str] = {}
    problems = []
    for path, frame in zip(files, frames, strict=True):
        for row, pid in zip(frame.index, frame[id_column], strict=True):
            if pid in seen:
                problems.append(Problem(int(row), id_column, pid,
                                        f"an id not already used in {seen[pid]}"))
            seen.setdefault(pid, str(path))
    if problems:
        raise ContractError(problems, source=", ".join(map(str, files)))
    return pd.concat(frames, ignore_index=True)


def data_digest(proposals: pd.DataFrame, config: Config) -> str:
    """A stable sha256 of the training rows (order-independent)."""
    ordered = proposals.sort_values(config.role("id")).reset_index(drop=True)
    return hashlib.sha256(ordered.to_csv(index=False).encode("utf-8")).hexdigest()


def training_record(result: TrainingResult, proposals: pd.DataFrame, config: Config) -> dict[str, Any]:
    """The JSON summary stored in the bundle and printed by `train --format json`."""
    return {
        "chosen": result.chosen.name, "chosen_kind": result.chosen.kind,
        "candidates": result.candidates, "metrics": result.metrics, "backtest": result.backtest,
        "backtest_metrics": result.backtest_metrics, "importance": result.importance,
        "evidence": result.evidence, "reliability": result.reliability,
        "data": result.data_summary, "warnings": result.warnings, "seed": result.seed,
        "chosen_params": result.chosen.params,
        "config_digest": config.digest, "data_digest": data_digest(proposals, config),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def flat_metrics(training: dict[str, Any]) -> dict[str, float]:
    """CV metrics with interval bounds and per-period backtest figures, as MLflow metrics."""
    out: dict[str, float] = {}
    for prefix, metrics in (("cv", training["metrics"]), ("backtest", training["backtest_metrics"])):
        for name, m in metrics.items():
            for part in ("value", "low", "high"):
                if np.isfinite(m[part]):
                    out[f"{prefix}_{name}" + ("" if part == "value" else f"_{part}")] = m[part]
    for row in training["backtest"]:
        for key in ("roc_auc", "log_loss", "brier"):
            if key in row and np.isfinite(row[key]):
                out[f"backtest_{row['period']}_{key}"] = float(row[key])
    return out


def write_artifacts(directory: Path, result: TrainingResult, training: dict[str, Any],
                    proposals: pd.DataFrame, config: Config) -> Path:
    """Model card, figures and tables for the run."""
    from pipelines.report import figures
    from pipelines.report.card import model_card

    labels = {c.name: c.label for c in config.columns}
    y = proposals[config.role("label")].to_numpy(dtype=float)
    figures.reliability_diagram(result.reliability, directory / "reliability.png")
    figures.roc_pr_curves(y, result.oof_probability, directory / "roc_pr.png")
    figures.importance_chart(result.importance, labels, directory / "importance.png")
    pd.DataFrame(result.importance).to_csv(directory / "importance.csv", index=False)
    pd.DataFrame(result.backtest).to_csv(directory / "backtest.csv", index=False)
    (directory / "model_card.md").write_text(model_card(training, labels), "utf-8")
    return directory


def train_and_register(client: Any, workspace: Workspace, config: Config, config_text: str,
                       proposals: pd.DataFrame, source: str, *, seed: int = 0) -> TrainOutcome:
    """Train, log the run with its model to MLflow and register a new version (no alias)."""
    from pipelines.report.card import model_card
    from pipelines.tracking import gateway as tracking
    from pipelines.tracking.serving import request_frame

    result = train_model(proposals, config, seed=seed)
    training = training_record(result, proposals, config)
    name = config.model.registered_name
    with tempfile.TemporaryDirectory(prefix="partnerscore-train-") as tmp:
        bundle = write_bundle(Path(tmp) / "bundle", result.model, config_text, training)
        (Path(tmp) / "artifacts").mkdir()
        artifacts = write_artifacts(Path(tmp) / "artifacts", result, training, proposals, config)
        tags = {"periods": ",".join(training["data"]["periods"]),
                "data_digest": training["data_digest"], "rows": str(training["data"]["rows"]),
                "positives": str(training["data"]["positives"]), "chosen_model": result.chosen.name,
                "git_commit": tracking.git_commit() or "unknown"}
        run_id, model_uri = tracking.log_training_run(
            params=_params(result, config, seed), metrics=flat_metrics(training), tags=tags,
            dataset=proposals, dataset_source=source, artifacts=artifacts, bundle=bundle,
            example=request_frame(proposals.head(3), config), config=config)
    version = tracking.register(client, name, model_uri, run_id, tags)
    labels = {c.name: c.label for c in config.columns}
    client.log_text(run_id, model_card(training, labels, version.version), "model_card.md")
    return TrainOutcome(result, training, version.version, run_id, "", name)


def run_training(workspace: Workspace, config: Config, config_text: str,
                 proposals: pd.DataFrame, source: str, *, seed: int = 0) -> TrainOutcome:
    """Train and register; the first version becomes champion, later ones challenger."""
    from pipelines.storage.lock import workspace_lock
    from pipelines.tracking import gateway as tracking
    from pipelines.tracking import registry

    with workspace_lock(workspace):
        client = tracking.connect(workspace.ensure(), config)
        name = config.model.registered_name
        champion = registry.sync_champion(client, workspace, name)
        outcome = train_and_register(client, workspace, config, config_text, proposals, source,
                                     seed=seed)
        if champion is None:
            registry.promote(client, workspace, name, outcome.version, "first model")
            alias = tracking.CHAMPION
        else:
            tracking.set_alias(client, name, tracking.CHALLENGER, outcome.version)
            alias = tracking.CHALLENGER
        write_atomic(workspace.root / "last_training.json",
                     json.dumps(outcome.training, default=str).encode())
    return dataclasses.replace(outcome, alias=alias)


def _params(result: TrainingResult, config: Config, seed: int) -> dict[str, Any]:
    from importlib import metadata

    params: dict[str, Any] = {"config_digest": config.digest, "seed": seed,
                              "candidates": ";".join(c["name"] for c in result.candidates),
                              "chosen_model": result.chosen.name,
                              **{f"chosen.{k}": v for k, v in result.chosen.params.items()}}
    for package in ("scikit-learn", "numpy", "pandas", "mlflow"):
        params[f"version.{package}"] = metadata.version(package)
    return params

"""The training job: labelled proposals in, a tracked, registered and exported model out."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.config import Column, Config
from model.parallel import Task, Workers, start_for_training
from model.progress import NO_PROGRESS, Progress
from model.validation import ContractError, Problem
from model.wording import belief_label
from pipelines.documents import LEARNED, BeliefRecord, TrainingRecord, json_default
from pipelines.settings import Workspace
from pipelines.storage.atomic import write_atomic
from pipelines.storage.bundle import write_bundle
from pipelines.storage.readers import load_proposals

if TYPE_CHECKING:
    from model.shap_check import TrainingShap
    from model.training import TrainingResult
    from pipelines.tracking.gateway import Gateway

# What the job needs once the model is trained, imported while it trains: shap's check,
# the figures and the model card, MLflow's model logging, and the git client MLflow reads
# the source's commit with when a run starts. Seconds of this process's time that would
# otherwise follow the training.
LATER_IMPORTS = ("model.shap_check", "shap", "pipelines.report.figures", "pipelines.report.card",
                 "mlflow.pyfunc", "git")


@dataclass(frozen=True)
class TrainOutcome:
    """What `partnerscore train` reports."""

    result: TrainingResult
    training: TrainingRecord
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


def _direction(prior: Any) -> int:
    """The believed direction in a belief's `prior` ({direction, strength} or a signed number)."""
    value = prior.get("direction", 0) if isinstance(prior, dict) else prior
    return int(np.sign(float(value or 0)))


def belief_records(checks: Sequence[Any], columns: Mapping[str, Column], *,
                   learned: bool = False) -> list[BeliefRecord]:
    """A training's belief checks (or its learned effects), each worded from its column
    (`columns`: the encoder's `described`, so a product's effect is worded too).

    A belief is worded in its believed direction ("Action plan raises impact"), a
    learned effect in the direction the outcomes showed.
    """
    records = []
    for check in checks:
        data = check.to_json()
        column, level, effect = columns[data["feature"]], data.get("level"), float(data["effect"])
        direction = int(np.sign(effect)) if learned else _direction(data.get("prior"))
        low, high = data["interval"]
        records.append(BeliefRecord(
            feature=column.name, label=belief_label(column, level, direction), effect=effect,
            interval=(float(low), float(high)), verdict=LEARNED if learned else str(data["verdict"]),
            level=level, prior=None if learned else data.get("prior")))
    return records


def training_record(result: TrainingResult, proposals: pd.DataFrame, config: Config,
                    shap: dict[str, Any] | None = None) -> TrainingRecord:
    """The record stored in the bundle and printed by `train --format json`."""
    columns = result.model.encoder.described
    return TrainingRecord(
        chosen=result.chosen.name, chosen_kind=result.chosen.kind,
        chosen_params=dict(result.chosen.params), candidates=result.candidates,
        metrics=result.metrics, backtest=result.backtest,  # type: ignore[arg-type]
        backtest_metrics=result.backtest_metrics,  # type: ignore[arg-type]
        importance=result.importance, evidence=result.evidence, reliability=result.reliability,
        data=result.data_summary, warnings=result.warnings, seed=result.seed,
        config_digest=config.digest, data_digest=data_digest(proposals, config),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"), shap=shap,
        provisional=result.provisional, beliefs=belief_records(result.beliefs, columns),
        learned=belief_records(result.learned, columns, learned=True),
        pairs=[cell.to_json() for cell in result.pairs])


def flat_metrics(training: TrainingRecord) -> dict[str, float]:
    """CV metrics with interval bounds and per-period backtest figures, as MLflow metrics."""
    out: dict[str, float] = {}
    for prefix, metrics in (("cv", training.metrics), ("backtest", training.backtest_metrics)):
        for name, m in metrics.items():
            for part in ("value", "low", "high"):
                if np.isfinite(m[part]):
                    out[f"{prefix}_{name}" + ("" if part == "value" else f"_{part}")] = m[part]
    for row in training.backtest:
        for key in ("roc_auc", "log_loss", "brier"):
            if key in row and np.isfinite(row[key]):
                out[f"backtest_{row['period']}_{key}"] = float(row[key])
    return out


def figure_tasks(directory: Path, result: TrainingResult, proposals: pd.DataFrame,
                 config: Config) -> list[Task]:
    """Drawing the run's figures into `directory`, one task each (most of the time spent
    writing a run's artifacts), for `model.parallel.Workers.submit`."""
    from pipelines.report import figures

    labels = config.feature_labels
    y = proposals[config.role("label")].to_numpy(dtype=float)
    return [(figures.roc_pr_curves, (y, result.oof_probability, directory / "roc_pr.png")),
            (figures.importance_chart, (result.importance, labels, directory / "importance.png")),
            (figures.reliability_diagram, (result.reliability, directory / "reliability.png"))]


def write_tables(directory: Path, result: TrainingResult, training: TrainingRecord,
                 proposals: pd.DataFrame, config: Config,
                 explained: TrainingShap | None = None) -> Path:
    """Model card and tables for the run (its figures: `figure_tasks`); with `explained`,
    shap's values of the training rows in `shap/contributions.csv` (see
    `model.shap_check.contributions_table`)."""
    from pipelines.report.card import model_card

    labels = config.feature_labels
    pd.DataFrame(result.importance).to_csv(directory / "importance.csv", index=False)
    pd.DataFrame(result.backtest).to_csv(directory / "backtest.csv", index=False)
    (directory / "model_card.md").write_text(
        model_card(training, labels, level=config.model.interval_level), "utf-8")
    if explained is not None:
        from model.shap_check import contributions_table

        (directory / "shap").mkdir()
        contributions_table(explained, proposals[config.role("id")]).to_csv(
            directory / "shap" / "contributions.csv", index=False)
    return directory


def write_run_files(directory: Path, result: TrainingResult, config: Config, config_text: str,
                    proposals: pd.DataFrame,
                    progress: Progress = NO_PROGRESS) -> tuple[TrainingRecord, Path, Path]:
    """Check the model's explanations against shap's, then write its bundle and the run's
    artifacts under `directory`: (training record, bundle, artifacts). The training's
    worker processes draw the figures meanwhile.

    Raises:
        ExplanationMismatch: when the explanations differ.
    """
    from model.shap_check import verify_training

    artifacts = directory / "artifacts"
    artifacts.mkdir()
    workers = Workers.for_training(result.positives + result.negatives,
                                   min(result.positives, result.negatives), config.model)
    drawing = workers.submit(figure_tasks(artifacts, result, proposals, config))
    try:
        explained = verify_training(result, proposals)
        training = training_record(result, proposals, config, explained.summary.to_json())
        progress.stage("Logging to MLflow", 2)
        bundle = write_bundle(directory / "bundle", result.model, config_text, training)
        write_tables(artifacts, result, training, proposals, config, explained)
        drawing.results()
    except BaseException:
        drawing.settle()  # before `directory` goes
        raise
    return training, bundle, artifacts


def train_and_register(gateway: Gateway, config: Config, config_text: str,
                       proposals: pd.DataFrame, source: str, *, seed: int = 0,
                       progress: Progress = NO_PROGRESS) -> TrainOutcome:
    """Train, log the run with its model to MLflow and register a new version (no alias)."""
    from model.training import train_model

    result = train_model(proposals, config, seed=seed, progress=progress)
    return register_training(gateway, result, config, config_text, proposals, source,
                             progress=progress)


def register_training(gateway: Gateway, result: TrainingResult, config: Config,
                      config_text: str, proposals: pd.DataFrame, source: str, *,
                      dataset: Any = None, progress: Progress = NO_PROGRESS) -> TrainOutcome:
    """Check a trained model's explanations against shap's, then log the run with its
    model to MLflow and register a new version (no alias).

    `dataset`: `proposals` read from `source` as `Gateway.training_dataset` makes it,
    when made ahead of time.

    Raises:
        ExplanationMismatch: when they differ; nothing is logged or registered then.
    """
    from pipelines.report.card import model_card
    from pipelines.tracking.gateway import git_commit
    from pipelines.tracking.serving import request_frame

    name = config.model.registered_name
    with tempfile.TemporaryDirectory(prefix="partnerscore-train-") as tmp:
        training, bundle, artifacts = write_run_files(Path(tmp), result, config, config_text,
                                                      proposals, progress)
        tags = {**training.to_tags(), "git_commit": git_commit() or "unknown"}
        run_id, model_uri = gateway.log_training_run(
            params=_params(result, config, result.seed), metrics=flat_metrics(training),
            tags=tags, artifacts=artifacts, bundle=bundle, config=config,
            dataset=gateway.training_dataset(proposals, source, config) if dataset is None
            else dataset,
            example=request_frame(proposals.head(3), config))
    progress.advance()
    version = gateway.register(name, model_uri, run_id, tags)
    labels = config.feature_labels
    gateway.log_run_outputs(run_id, metrics={}, texts={
        "model_card.md": model_card(training, labels, version.version,
                                    level=config.model.interval_level)})
    progress.advance()
    return TrainOutcome(result, training, version.version, run_id, "", name)


def run_training(workspace: Workspace, config: Config, config_text: str,
                 proposals: pd.DataFrame, source: str, *, seed: int = 0,
                 progress: Progress = NO_PROGRESS) -> TrainOutcome:
    """Train and register; the first version becomes champion, later ones challenger.

    The worker processes start first, before scikit-learn is loaded here; the tracking
    store opens in a thread while the model trains (`pipelines.tracking.opening`).
    """
    from model.errors import refuse_single_outcome
    from pipelines.storage.lock import workspace_lock
    from pipelines.tracking.opening import open_while_training

    y = proposals[config.role("label")].to_numpy(dtype=float)
    refuse_single_outcome(int(y.sum()), len(y))  # before the workspace is created
    with workspace_lock(workspace):
        start_for_training(y, config.model)
        from model.training import train_model

        opening = open_while_training(workspace.ensure(), config, proposals, source,
                                      imports=LATER_IMPORTS)
        try:
            result = train_model(proposals, config, seed=seed, progress=progress)
        except BaseException:
            opening.settle()
            raise
        opened = opening.result()
        outcome = register_training(opened.gateway, result, config, config_text, proposals,
                                    source, dataset=opened.dataset, progress=progress)
        alias = _make_current(opened.gateway, workspace, config, outcome.version,
                              opened.champion)
        write_atomic(workspace.root / "last_training.json",
                     json.dumps(outcome.training.to_json(), default=json_default).encode())
    return dataclasses.replace(outcome, alias=alias)


def _make_current(gateway: Gateway, workspace: Workspace, config: Config, version: str,
                  champion: str | None) -> str:
    """Promote the first version to champion; make a later one the challenger. The alias."""
    from pipelines.tracking import registry
    from pipelines.tracking.gateway import CHALLENGER, CHAMPION

    name = config.model.registered_name
    if champion is None:
        registry.promote(gateway, workspace, name, version, "first model")
        return CHAMPION
    gateway.set_alias(name, CHALLENGER, version)
    return CHALLENGER


def _params(result: TrainingResult, config: Config, seed: int) -> dict[str, Any]:
    from importlib import metadata

    params: dict[str, Any] = {"config_digest": config.digest, "seed": seed,
                              "candidates": ";".join(c["name"] for c in result.candidates),
                              "chosen_model": result.chosen.name,
                              **{f"chosen.{k}": v for k, v in result.chosen.params.items()}}
    for package in ("scikit-learn", "numpy", "pandas", "mlflow"):
        params[f"version.{package}"] = metadata.version(package)
    return params

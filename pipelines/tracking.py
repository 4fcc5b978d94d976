"""The one module that talks to MLflow: runs, datasets, artifacts, the model registry.

The tracking URI is MLFLOW_TRACKING_URI when set, else the workspace's SQLite file
with artifacts under the workspace, so a laptop needs no server. Everything here is
imported lazily by the jobs that need it; prediction from the exported champion
never imports MLflow.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from model.schema import Config
from pipelines.settings import Workspace

SERVING_CODE = Path(__file__).with_name("serving.py")
PACKAGE_DIRS = [Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "model"]
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
_SPEC_TYPES = {"number": "double", "integer": "double", "boolean": "boolean"}


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version in the registry and the run that produced it."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """The registry URI of this version."""
        return f"models:/{self.name}/{self.version}"


def connect(workspace: Workspace, config: Config) -> MlflowClient:
    """Point MLflow at the workspace (or MLFLOW_TRACKING_URI) and bound its HTTP waits."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(config.tracking.timeout_seconds))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(config.tracking.retries))
    uri = workspace.tracking_uri()
    user_choice = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow exports the URI to the environment; undo that so the next workspace
    # opened in this process is not mistaken for a team server chosen by the user.
    if user_choice is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    client = MlflowClient(uri, uri)
    name = config.model.experiment
    if client.get_experiment_by_name(name) is None:
        location = workspace.artifacts.as_uri() if uri.startswith("sqlite:") else None
        client.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return client


def signature(config: Config) -> ModelSignature:
    """Input schema from the configuration; integers are doubles so missing values pass."""
    wanted = [c for c in config.columns
              if c.feature or c.name in (config.role("id"), config.roles.get("name"))]
    specs: list[ColSpec | TensorSpec] = [ColSpec(_SPEC_TYPES.get(c.type, "string"), c.name,
                     required=c.required_for(False)) for c in wanted]
    return ModelSignature(inputs=Schema(specs))


def requirements() -> list[str]:
    """What the logged model needs at serving time, pinned to the versions trained with."""
    names = ["mlflow", "numpy", "pandas", "pyyaml"]
    return [f"{n}=={metadata.version(n)}" for n in names]


def log_training_run(*, params: dict[str, Any], metrics: dict[str, float],
                     tags: dict[str, str], dataset: pd.DataFrame, dataset_source: str,
                     artifacts: Path, bundle: Path, example: pd.DataFrame,
                     config: Config) -> tuple[str, str]:
    """Log one training run with its model; returns (run id, model URI)."""
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        data = from_pandas(dataset, source=dataset_source,
                                       targets=config.role("label"), name="labelled-proposals")
        mlflow.log_input(data, context="training")
        mlflow.log_artifacts(str(artifacts))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(SERVING_CODE), artifacts={"bundle": str(bundle)},
                code_paths=[str(p) for p in PACKAGE_DIRS], signature=signature(config),
                input_example=example, pip_requirements=requirements())
        return run.info.run_id, info.model_uri


def register(client: MlflowClient, name: str, model_uri: str, run_id: str,
             tags: dict[str, str]) -> RegisteredVersion:
    """Create a new registered version of `name` with descriptive tags."""
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="partnerscore impact model")
    version = client.create_model_version(name, model_uri, run_id=run_id, tags=tags)
    return RegisteredVersion(name, str(version.version), run_id)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points at, or None."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point an alias at a version."""
    client.set_registered_model_alias(name, alias, version)


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    """Add tags to a registered version."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def download_bundle(model_uri: str, into: Path | None = None) -> Path:
    """Fetch a registered model's bundle artifact; returns its local directory."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    target = into or Path(tempfile.mkdtemp(prefix="partnerscore-model-"))
    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target))
    return Path(local) / "artifacts" / "bundle"


def git_commit() -> str | None:
    """The source commit, when partnerscore runs from a git checkout."""
    head = PACKAGE_DIRS[1].parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


def remove_alias(client: MlflowClient, name: str, alias: str) -> None:
    """Delete an alias if it exists."""
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.delete_registered_model_alias(name, alias)


def log_run_outputs(client: MlflowClient, run_id: str, *, metrics: dict[str, float],
                    texts: dict[str, str]) -> None:
    """Add metrics and text artifacts to a finished run (for example the gate and drift)."""
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    for path, text in texts.items():
        client.log_text(run_id, text, path)


def run_text(client: MlflowClient, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or None when absent."""
    try:
        local = client.download_artifacts(run_id, path, tempfile.mkdtemp(prefix="partnerscore-"))
    except (mlflow.exceptions.MlflowException, OSError):
        return None
    return Path(local).read_text("utf-8")


def versions(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every registered version with aliases, tags and its run's key metrics, newest first."""
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        rows.append({"version": str(mv.version), "aliases": sorted(aliases.get(str(mv.version), [])),
                     "created": mv.creation_timestamp, "run_id": mv.run_id, "tags": dict(mv.tags),
                     "metrics": dict(metrics)})
    return sorted(rows, key=lambda r: -int(r["version"]))

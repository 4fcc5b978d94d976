"""The one gateway to MLflow: runs, datasets, artifacts, the model registry.

`Gateway` owns the MLflow client, the tracking URI, bounded waits on a server,
quiet logging and pickle-free downloads; no other module imports `MlflowClient`, and
only `pipelines.tracking.environment` (importable without loading MLflow) sets MLflow's
environment variables, for this module and before it loads. The tracking URI is
MLFLOW_TRACKING_URI when set, else the workspace's SQLite file with artifacts under
the workspace, so a laptop needs no server. Imported lazily by the jobs that need it:
prediction from the exported champion never imports MLflow.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import PandasDataset, from_pandas
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from model.config import Config, TrackingSettings
from pipelines.documents import GateRecord
from pipelines.errors import NotRegistered, TrackingUnavailable
from pipelines.settings import Workspace
from pipelines.storage.atomic import fsync_directory, fsync_file
from pipelines.storage.bundle import BundleError
from pipelines.tracking.environment import (
    bound_http_waits,
    check_reachable,
    quiet_logging,
    settings_in_force,
)
from pipelines.tracking.environment import wait_bound as wait_bound  # part of this API

SERVING_CODE = Path(__file__).with_name("serving.py")
PACKAGE_DIRS = [Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "model"]
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
_SPEC_TYPES = {"number": "double", "integer": "double"}


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version in the registry and the run that produced it."""

    name: str
    version: str
    run_id: str


@dataclass(frozen=True)
class VersionSummary:
    """A registered version as `partnerscore models` lists it."""

    version: str
    aliases: list[str]
    created: int
    run_id: str | None
    tags: dict[str, str]
    metrics: dict[str, float]

    @property
    def gate(self) -> GateRecord | None:
        """The promotion decision recorded on this version, if it went through the gate."""
        return GateRecord.from_tags(self.tags, self.version)


def _create_database(workspace: Workspace) -> None:
    """Create the workspace's SQLite database whole, or not at all.

    MLflow builds a new database in dozens of migration steps; a process killed
    in the middle leaves a file that every later run refuses ("duplicate column").
    So the database is built under a temporary name and linked into place in one
    step; os.link fails if another process got there first, whose file is kept.
    While private, the file is built without per-step syncs (4-5x faster); it is
    synced once before it is linked.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    workspace.root.mkdir(parents=True, exist_ok=True)
    temporary = workspace.root / f".{workspace.mlflow_db.name}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)

    def unsynced(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        if any(Path(row[2]) == temporary for row in cursor.execute("PRAGMA database_list") if row[2]):
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.close()

    event.listen(Engine, "connect", unsynced)
    try:
        store = SqlAlchemyStore(f"sqlite:///{temporary}", workspace.artifacts.as_uri())
        store.engine.dispose()
        fsync_file(temporary)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, workspace.mlflow_db)
    finally:
        event.remove(Engine, "connect", unsynced)
        temporary.unlink(missing_ok=True)
    fsync_directory(workspace.root)


def _point_mlflow_at(uri: str) -> None:
    """Make `uri` MLflow's tracking and registry URI for this process.

    MLflow resolves logged models (`models:/m-...`) and registry URIs through its
    process-wide URIs, whatever a client was given. It also exports them to the
    environment; that is undone so the next workspace opened in this process (or a
    child process) is not mistaken for a team server chosen by the user.
    """
    user_choice = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _restore(user_choice)


@contextlib.contextmanager
def pinned(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs set to `uri`, then restored.

    MLflow 3.17 resolves `models:/` URIs against its process-wide URIs and ignores the
    `registry_uri` given to `download_artifacts`; setting them also exports environment
    variables, which are restored too, so the next workspace opened in this process
    (or a child process) is not mistaken for a team server chosen by the user.
    """
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    saved_env = {name: os.environ.get(name) for name in names}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])
        _restore(saved_env)


def _restore(saved_env: dict[str, str | None]) -> None:
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def pickle_disabled() -> Iterator[None]:
    """MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false for the duration, restored afterwards."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    saved = {key: os.environ.get(key)}
    os.environ[key] = "false"
    try:
        yield
    finally:
        _restore(saved)


@contextlib.contextmanager
def unavailable_as_error(uri: str, settings: TrackingSettings) -> Iterator[None]:
    """Turn MLflow's "API request failed" after its bounded retries into `TrackingUnavailable`.

    A server can answer /health and still hang or drop its API requests; MLflow then
    gives up after `wait_bound(settings)` with an error that names no cause a user
    can act on.
    """
    import requests

    try:
        yield
    except mlflow.exceptions.MlflowException as exc:
        cause = exc.__cause__ or exc.__context__
        if not isinstance(cause, requests.RequestException):
            raise
        raise TrackingUnavailable(
            f"tracking server at {uri} did not answer its API requests within "
            f"{settings.timeout_seconds} s ({settings.retries} retries): {type(cause).__name__}; "
            "nothing was changed") from exc


def signature(config: Config) -> ModelSignature:
    """Input schema from the configuration; integers are doubles so missing values pass.

    Booleans are declared as any type: MLflow's scoring server casts a boolean column
    with `astype(bool)`, which would read a missing value as False. The model's own
    validation checks them, and refuses a missing required one.
    """
    from mlflow.types.schema import AnyType

    wanted = [c for c in config.columns
              if c.feature or c.name in (config.role("id"), config.roles.get("name"))]
    specs: list[ColSpec | TensorSpec] = [
        ColSpec(AnyType() if c.type == "boolean" else _SPEC_TYPES.get(c.type, "string"), c.name,
                required=c.required_for(False)) for c in wanted]
    return ModelSignature(inputs=Schema(specs))


def requirements() -> list[str]:
    """What the logged model needs at serving time, pinned to the versions trained with."""
    names = ["mlflow", "numpy", "pandas", "pyyaml"]
    return [f"{n}=={metadata.version(n)}" for n in names]


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


class Gateway:
    """The tracking server (or the workspace's SQLite file) and its model registry.

    Build one with `Gateway.open` (jobs that log runs and move aliases) or
    `Gateway.reader` (downloads for scoring). Every request is bounded by the
    `tracking:` settings; a server that does not answer raises `TrackingUnavailable`.
    """

    def __init__(self, uri: str, settings: TrackingSettings) -> None:
        quiet_logging()
        bound_http_waits(settings)
        self.uri, self.settings = uri, settings
        _point_mlflow_at(uri)
        self.client = MlflowClient(uri, uri)
        self.experiment = ""

    @classmethod
    def open(cls, workspace: Workspace, settings: TrackingSettings, experiment: str) -> Gateway:
        """Point MLflow at the workspace (or MLFLOW_TRACKING_URI) and select the experiment.

        Raises:
            TrackingUnavailable: when a tracking server does not answer within the bound
                set by `settings`.
        """
        quiet_logging()  # before the database is created: MLflow logs each migration step
        uri = workspace.tracking_uri()
        bound_http_waits(settings)
        check_reachable(uri, settings)
        if uri.startswith("sqlite:") and not workspace.mlflow_db.exists():
            _create_database(workspace)
        gateway = cls(uri, settings)
        with pinned(uri), gateway.bounded():
            if gateway.client.get_experiment_by_name(experiment) is None:
                location = workspace.artifacts.as_uri() if uri.startswith("sqlite:") else None
                gateway.client.create_experiment(experiment, artifact_location=location)
        gateway.experiment = experiment
        return gateway

    @classmethod
    def reader(cls, uri: str, settings: TrackingSettings | None = None) -> Gateway:
        """A gateway for reading registered models only: creates nothing.

        Without `settings`, MLflow's own MLFLOW_HTTP_REQUEST_* variables bound the waits
        where the user set them, else the shipped defaults do.

        Raises:
            TrackingUnavailable: when a tracking server does not answer in time.
            BundleError: when `uri` is a SQLite registry that does not exist.
        """
        if settings is None:
            bound_http_waits(TrackingSettings(), override=False)
            settings = settings_in_force()
        bound_http_waits(settings)
        check_reachable(uri, settings)
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
            raise BundleError(f"there is no model registry at {uri}")
        return cls(uri, settings)

    def bounded(self) -> contextlib.AbstractContextManager[None]:
        """Requests inside raise `TrackingUnavailable` when the server stops answering."""
        return unavailable_as_error(self.uri, self.settings)

    # Runs -------------------------------------------------------------------------

    @staticmethod
    def training_dataset(frame: pd.DataFrame, source: str, config: Config) -> PandasDataset:
        """The training rows as the MLflow dataset `log_training_run` logs, with its digest
        and schema already computed (a scan of every value: tenths of a second per
        thousand rows), so that a job can build it ahead of time."""
        data = from_pandas(frame, source=source, targets=config.role("label"),
                           name="labelled-proposals")
        _ = data.schema  # computed once, kept by the dataset
        return data

    @staticmethod
    def prepare_model_logging() -> None:
        """Do ahead of time what MLflow does the first time a process logs a model: map
        every installed package to its modules (about half a second) to check the
        model's requirements against them. Only saves time: skipped if MLflow moved it."""
        with contextlib.suppress(Exception):
            from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

            warn_dependency_requirement_mismatches(requirements())

    def log_training_run(self, *, params: dict[str, Any], metrics: dict[str, float],
                         tags: dict[str, str], dataset: PandasDataset, artifacts: Path,
                         bundle: Path, example: pd.DataFrame, config: Config) -> tuple[str, str]:
        """Log one training run with its model; returns (run id, model URI).

        `dataset` comes from `training_dataset`.
        """
        with pinned(self.uri):
            mlflow.set_experiment(self.experiment or config.model.experiment)
            with mlflow.start_run(tags=tags) as run:
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                mlflow.log_metrics(metrics)
                mlflow.log_input(dataset, context="training")
                mlflow.log_artifacts(str(artifacts))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    info = mlflow.pyfunc.log_model(
                        name="model", python_model=str(SERVING_CODE),
                        artifacts={"bundle": str(bundle)},
                        code_paths=[str(p) for p in PACKAGE_DIRS], signature=signature(config),
                        input_example=example, pip_requirements=requirements())
                return run.info.run_id, info.model_uri

    def log_run_outputs(self, run_id: str, *, metrics: dict[str, float],
                        texts: dict[str, str]) -> None:
        """Add metrics and text artifacts to a finished run (for example the gate and drift)."""
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, value)
        for path, text in texts.items():
            self.client.log_text(run_id, text, path)

    def run_text(self, run_id: str, path: str) -> str | None:
        """A text artifact of a run, or None when absent."""
        try:
            with tempfile.TemporaryDirectory(prefix="partnerscore-") as tmp:
                local = self.client.download_artifacts(run_id, path, tmp)
                return Path(local).read_text("utf-8")
        except (mlflow.exceptions.MlflowException, OSError):
            return None

    # Registry ---------------------------------------------------------------------

    def register(self, name: str, model_uri: str, run_id: str,
                 tags: dict[str, str]) -> RegisteredVersion:
        """Create a new registered version of `name` with descriptive tags."""
        try:
            self.client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            self.client.create_registered_model(name, description="partnerscore impact model")
        # A tracking server requires the logged model's id with a models:/m-... source
        # (a local SQLite store does not check it).
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        version = self.client.create_model_version(name, model_uri, run_id=run_id, tags=tags,
                                                   model_id=model_id)
        return RegisteredVersion(name, str(version.version), run_id)

    def version_run_id(self, name: str, version: str) -> str | None:
        """The run that produced a version.

        Raises:
            NotRegistered: when the registry has no such version.
        """
        try:
            return self.client.get_model_version(name, version).run_id
        except mlflow.exceptions.MlflowException as exc:
            raise NotRegistered(f"{name} has no version {version} in the registry at {self.uri}") from exc

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        """A version's tags."""
        return dict(self.client.get_model_version(name, version).tags)

    def version_learned(self, name: str, version: str) -> tuple[list[str], int]:
        """The trial periods a version learned (its `periods` tag) and when it was created
        (milliseconds since the epoch)."""
        mv = self.client.get_model_version(name, version)
        return [p for p in dict(mv.tags).get("periods", "").split(",") if p], mv.creation_timestamp

    def tag_version(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Add tags to a registered version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version an alias points at, or None."""
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except mlflow.exceptions.MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point an alias at a version.

        A tracking server moves an alias by deleting and inserting it, so two jobs moving
        the same alias at once (two trainings each naming their version @challenger) can
        make one of them hit the other's row. Moving an alias is last-writer-wins anyway,
        so the losing job tries again, a few times, after a short wait.
        """
        for attempt in range(ALIAS_ATTEMPTS):
            try:
                self.client.set_registered_model_alias(name, alias, version)
                return
            except mlflow.exceptions.MlflowException as error:
                if attempt == ALIAS_ATTEMPTS - 1 or not _alias_race(error):
                    raise
                time.sleep(0.2 * (attempt + 1))

    def remove_alias(self, name: str, alias: str) -> None:
        """Delete an alias if it exists."""
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            self.client.delete_registered_model_alias(name, alias)

    def versions(self, name: str) -> list[VersionSummary]:
        """Every registered version with aliases, tags and its run's metrics, newest first."""
        try:
            model = self.client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            return []
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for mv in self.client.search_model_versions(f"name='{name}'"):
            metrics = self.client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            rows.append(VersionSummary(str(mv.version), sorted(aliases.get(str(mv.version), [])),
                                       mv.creation_timestamp, mv.run_id, dict(mv.tags),
                                       dict(metrics)))
        return sorted(rows, key=lambda r: -int(r.version))

    def gate_history(self, name: str) -> list[GateRecord]:
        """Every recorded promotion decision, oldest first, from the versions' gate tags."""
        records = [v.gate for v in sorted(self.versions(name), key=lambda r: int(r.version))]
        return [r for r in records if r is not None]

    def resolve_alias(self, model_uri: str) -> str | None:
        """The version a `models:/NAME@ALIAS` URI points at now, or None for other URIs."""
        name, sep, alias = model_uri.removeprefix("models:/").partition("@")
        if not model_uri.startswith("models:/") or not sep:
            return None
        return self.alias_version(name, alias)

    def download_bundle(self, model_uri: str, into: Path) -> Path:
        """Fetch a registered model's bundle artifact (files only, pickle disabled); returns its directory.

        The bundle is not loaded here: `bundle.load_bundle` verifies it first.

        Raises:
            BundleError: when the registry has no such model or version.
            TrackingUnavailable: when a tracking server does not answer in time.
        """
        try:
            with pinned(self.uri), pickle_disabled(), self.bounded():
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=model_uri, dst_path=str(into), tracking_uri=self.uri,
                    registry_uri=self.uri)
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                raise BundleError(f"{model_uri}: not in the registry at {self.uri} ({exc.message})") from exc
            raise
        return Path(local) / "artifacts" / "bundle"


ALIAS_ATTEMPTS = 5


def _alias_race(error: Exception) -> bool:
    """Whether an error is a tracking server's unique-key conflict on a model alias."""
    text = str(error).lower()
    return "alias" in text and ("unique" in text or "already exists" in text)

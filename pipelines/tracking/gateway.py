"""The one module that talks to MLflow: runs, datasets, artifacts, the model registry.

The tracking URI is MLFLOW_TRACKING_URI when set, else the workspace's SQLite file
with artifacts under the workspace, so a laptop needs no server. Everything here is
imported lazily by the jobs that need it; prediction from the exported champion
never imports MLflow.
"""

from __future__ import annotations

import contextlib
import json
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
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from model.config import Config, TrackingSettings
from pipelines.errors import TrackingUnavailable
from pipelines.settings import Workspace
from pipelines.storage.atomic import fsync_directory, fsync_file
from pipelines.storage.bundle import BundleError

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

    @property
    def uri(self) -> str:
        """The registry URI of this version."""
        return f"models:/{self.name}/{self.version}"


def bound_http_waits(settings: TrackingSettings, *, override: bool = True) -> None:
    """Make every MLflow HTTP request give up after `timeout_seconds` per try and `retries` retries.

    MLflow reads these variables at each request. The backoff factor is 1 with no
    jitter, so waits between tries are 0, 2, 4 ... s (urllib3) and the worst case
    is `wait_bound(settings)`. With `override` False, values already set are kept.
    """
    values = {"MLFLOW_HTTP_REQUEST_TIMEOUT": settings.timeout_seconds,
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": settings.retries,
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0}
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = str(value)


def wait_bound(settings: TrackingSettings) -> float:
    """The longest one request to an unresponsive tracking server can take, in seconds."""
    backoff = sum(2.0 ** (n - 1) for n in range(2, settings.retries + 1))
    return settings.timeout_seconds * (settings.retries + 1) + backoff


def _settings_in_force() -> TrackingSettings:
    """The bounds MLflow will use now (as set by `bound_http_waits`)."""
    return TrackingSettings(timeout_seconds=int(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]),
                            retries=int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]))


def check_reachable(uri: str, settings: TrackingSettings) -> None:
    """For an http(s) tracking URI, one bounded request to its /health endpoint.

    Any HTTP answer counts as reachable (authentication errors are MLflow's to
    report); no answer within `wait_bound(settings)` raises.

    Raises:
        TrackingUnavailable: the server refused the connection, timed out or broke TLS.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1")
    verify: bool | str = False if insecure else os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH", True)
    started, error = time.monotonic(), ""
    for attempt in range(settings.retries + 1):
        if attempt > 1:
            time.sleep(2.0 ** (attempt - 1))
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=settings.timeout_seconds,
                         verify=verify, allow_redirects=False)
            return
        except requests.RequestException as exc:
            error = type(exc).__name__
    raise TrackingUnavailable(
        f"tracking server unreachable at {uri}: no answer after {settings.retries + 1} tries "
        f"in {time.monotonic() - started:.0f} s ({error}); nothing was changed. Check "
        "MLFLOW_TRACKING_URI and the server, or raise tracking.timeout_seconds / retries")


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
    """Make `uri` MLflow's tracking and registry URI for this process."""
    user_choice = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow exports the URIs to the environment; undo that so the next workspace
    # opened in this process (or a child process) is not mistaken for a team server
    # chosen by the user.
    for key, value in user_choice.items():
        if value is None:
            os.environ.pop(key, None)


def connect(workspace: Workspace, config: Config) -> MlflowClient:
    """Point MLflow at the workspace (or MLFLOW_TRACKING_URI) with bounded HTTP waits.

    Raises:
        TrackingUnavailable: when a tracking server does not answer within the bound
            set by the configuration's `tracking` section.
    """
    bound_http_waits(config.tracking)
    uri = workspace.tracking_uri()
    check_reachable(uri, config.tracking)
    if uri.startswith("sqlite:") and not workspace.mlflow_db.exists():
        _create_database(workspace)
    _point_mlflow_at(uri)
    client = MlflowClient(uri, uri)
    name = config.model.experiment
    with unavailable_as_error(uri, config.tracking):
        if client.get_experiment_by_name(name) is None:
            location = workspace.artifacts.as_uri() if uri.startswith("sqlite:") else None
            client.create_experiment(name, artifact_location=location)
        mlflow.set_experiment(name)
    return client


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
    # A tracking server requires the logged model's id with a models:/m-... source
    # (a local SQLite store does not check it).
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(name, model_uri, run_id=run_id, tags=tags,
                                          model_id=model_id)
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


@contextlib.contextmanager
def pickle_disabled() -> Iterator[None]:
    """MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false for the duration, restored afterwards."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    saved = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def download_bundle(model_uri: str, into: Path | None = None, *,
                    tracking_uri: str | None = None) -> Path:
    """Fetch a registered model's bundle artifact (files only, pickle disabled); returns its directory.

    The bundle is not loaded here: `bundle.load_bundle` verifies it first.

    Raises:
        BundleError: when the registry has no such model or version.
        TrackingUnavailable: when a tracking server does not answer in time.
    """
    uri = tracking_uri or mlflow.get_tracking_uri()
    bound_http_waits(TrackingSettings(), override=False)
    check_reachable(uri, _settings_in_force())
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise BundleError(f"{model_uri}: there is no model registry at {uri}")
    target = into or Path(tempfile.mkdtemp(prefix="partnerscore-model-"))
    # MLflow resolves models:/ URIs with the process-wide registry URI whatever
    # registry_uri says, so that is set too (otherwise it opens ./mlflow.db).
    _point_mlflow_at(uri)
    try:
        with pickle_disabled():
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target),
                                                        tracking_uri=uri, registry_uri=uri)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise BundleError(f"{model_uri}: not in the registry at {uri} ({exc.message})") from exc
        raise
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


def gate_history(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every recorded promotion decision, oldest first, from the versions' gate tags."""
    rows = []
    for v in sorted(versions(client, name), key=lambda r: int(r["version"])):
        tags = v["tags"]
        if "gate.passed" not in tags:
            continue
        champion = json.loads(tags.get("gate.champion") or "{}")
        challenger = json.loads(tags.get("gate.challenger") or "{}")
        rows.append({"version": v["version"], "passed": tags["gate.passed"] == "true",
                     "champion": champion, "challenger": challenger,
                     "reason": tags.get("gate.reason", "")})
    return rows

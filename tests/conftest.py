"""Shared fixtures: the shipped configuration and small proposal tables on disk."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from model.config import Config
from pipelines.jobs.train import TrainOutcome
from pipelines.settings import Workspace, load_config

WriteCsv = Callable[..., Path]


@pytest.fixture(scope="session")
def config() -> Config:
    """The configuration shipped with partnerscore."""
    return load_config()


@pytest.fixture
def proposals() -> list[dict[str, str]]:
    """Three valid labelled proposals, every value as a spreadsheet would hold it."""
    base = {
        "proposal_id": "p1", "trial_period": "2026-03", "partner_name": "Acme",
        "partnership_type": "influencer", "partner_sector": "hr_tech",
        "sector_proximity": "adjacent", "lifecycle_position": "upstream",
        "has_clear_objective": "true", "has_action_plan": "false", "product_ready": "yes",
        "partner_committed_fte": "0.5", "partner_headcount": "120", "real_impact": "1",
    }
    return [
        base,
        {**base, "proposal_id": "p2", "partnership_type": "Co-Branding", "real_impact": "0"},
        {**base, "proposal_id": "p3", "trial_period": "2026-04", "partner_headcount": ""},
    ]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write rows (dicts) to a CSV under tmp_path and return its path."""

    def write(rows: list[dict[str, str]], name: str = "proposals.csv", *,
              delimiter: str = ",", encoding: str = "utf-8") -> Path:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter,
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = tmp_path / name
        path.write_bytes(buffer.getvalue().encode(encoding))
        return path

    return write


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture(autouse=True, scope="session")
def _local_tracking() -> Iterator[None]:
    """Every test talks to its own workspace's SQLite store, never a team server."""
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("MLFLOW_TRACKING", "PARTNERSCORE_"))}
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    yield
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_mlflow_environment() -> Iterator[None]:
    """Keep the MLflow URIs a test sets (process-wide and exported) to that test."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {k: os.environ.get(k) for k in keys}
    uris = tracking_uris._tracking_uri, registry_uris._registry_uri
    yield
    tracking_uris._tracking_uri, registry_uris._registry_uri = uris
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def history(config: Config) -> pd.DataFrame:
    """The shipped sample history (about 480 labelled proposals over 12 periods)."""
    from pipelines.storage.readers import load_proposals

    return load_proposals(SAMPLE / "history.csv", config, labelled=True)


@pytest.fixture(scope="session")
def new_proposals(config: Config) -> pd.DataFrame:
    """The shipped sample of proposals to score."""
    from pipelines.storage.readers import load_proposals

    return load_proposals(SAMPLE / "new_proposals.csv", config, labelled=False)


def split_history(directory: Path) -> tuple[Path, Path]:
    """The sample history as two CSVs: every period before 2025-12, and 2025-12 alone."""
    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    earlier, newest = directory / "earlier.csv", directory / "newest.csv"
    frame[frame["trial_period"] < "2025-12"].to_csv(earlier, index=False)
    frame[frame["trial_period"] == "2025-12"].to_csv(newest, index=False)
    return earlier, newest


@dataclass(frozen=True)
class Trained:
    """A workspace where the sample history was trained once, with the shipped config."""

    workspace: Workspace
    outcome: TrainOutcome
    history: pd.DataFrame


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, config: Config,
            history: pd.DataFrame) -> Trained:
    """Train once per test session (about 10 s) and share the workspace read-only."""
    from pipelines.jobs.train import run_training
    from pipelines.settings import default_config_text

    workspace = Workspace.resolve(tmp_path_factory.mktemp("workspace"))
    outcome = run_training(workspace, config, default_config_text(), history,
                           str(SAMPLE / "history.csv"), seed=0)
    return Trained(workspace, outcome, history)


@dataclass(frozen=True)
class SeedTrained:
    """A workspace trained on the first trial month alone: 28 proposals, 3 with real impact."""

    workspace: Workspace
    summary: dict  # what `partnerscore train --format json` printed


@pytest.fixture(scope="session")
def seed_trained(tmp_path_factory: pytest.TempPathFactory) -> SeedTrained:
    """Train once per test session on `data/sample/seed_month.csv`, through the command line."""
    import contextlib
    import json

    from pipelines.cli.app import main

    root = tmp_path_factory.mktemp("seed-workspace")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["--workspace", str(root), "train", "--data", str(SAMPLE / "seed_month.csv"),
              "--format", "json"])
    return SeedTrained(Workspace.resolve(root), json.loads(printed.getvalue()))

"""Crash safety: SIGKILL at random moments never damages the store, the registry or the champion.

The kill harness is `bench/kill.py` (more runs there, results in bench/results/kill.md);
here it runs 30 kills with the fast configuration: 2 first trainings killed while MLflow
builds its database; 12 ingests, 6 trainings and 4 retrainings killed at moments spread
over each command's measured duration; 4 ingests killed while writing the store and 2
retrainings killed while promoting. Every invariant is checked after every kill. The
kills run as two campaigns of 15 on two workspaces at once (one per core), each
measuring its commands' durations under the same load it kills them in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pipelines.settings import Workspace
from pipelines.storage.bundle import exported_version, load_bundle
from pipelines.storage.lock import remove_leftovers, workspace_lock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_uris() -> Iterator[None]:
    """Leave MLflow's process-wide URIs as this module found them (other modules rely on them)."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    saved = tracking_uris._tracking_uri, registry_uris._registry_uri
    yield
    tracking_uris._tracking_uri, registry_uris._registry_uri = saved


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_harness", ROOT / "bench" / "kill.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Campaign:
    """The harness's results and the workspace it left."""

    tallies: list[Any]
    workspace: Workspace
    files: Any


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """Run the 30 kills once for this module, as two campaigns of 15 on two workspaces at
    once (about a minute and a half on two cores)."""
    from concurrent.futures import ThreadPoolExecutor

    kill = _harness()
    directories = [tmp_path_factory.mktemp("kill") for _ in range(2)]
    half = kill.Plan(first_train=1, ingest=6, train=3, retrain=2, ingest_writing=2, promoting=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(kill.kill_campaign, d, half, seed=7 + i)
                for i, d in enumerate(directories)]
        tallies = [t for run in runs for t in run.result()]
    return Campaign(tallies, Workspace(directories[0] / "ws"), kill.make_files(directories[0]))


def test_thirty_kills_leave_everything_valid_and_reruns_succeed(campaign: Campaign) -> None:
    problems = [p for t in campaign.tallies for p in t.problems]
    assert problems == []
    # A run faster than the measured one may finish before its kill: the harness then
    # retries that moment earlier, so thirty kills really happen.
    killed = sum(t.killed for t in campaign.tallies)
    assert killed == 30, [(t.command, t.killed, t.finished_first) for t in campaign.tallies]


def test_after_the_campaign_the_champion_is_exported_and_verified(campaign: Campaign) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(campaign.workspace.tracking_uri(), campaign.workspace.tracking_uri())
    champion = str(client.get_model_version_by_alias("partnerscore", "champion").version)
    assert exported_version(campaign.workspace.champion) == champion
    assert load_bundle(campaign.workspace.champion).registry["version"] == champion


def test_sync_finishes_a_promotion_interrupted_after_its_commit_point(campaign: Campaign) -> None:
    """@champion moved, then the process died: the next job sets @previous and re-exports."""
    from model.config import TrackingSettings
    from pipelines.tracking import registry
    from pipelines.tracking.gateway import CHALLENGER, CHAMPION, PREVIOUS, Gateway

    workspace = campaign.workspace
    gateway = Gateway(workspace.tracking_uri(), TrackingSettings())
    old = gateway.alias_version("partnerscore", CHAMPION)
    assert old is not None
    new = max((v.version for v in gateway.versions("partnerscore") if v.version != old), key=int)
    gateway.set_alias("partnerscore", CHALLENGER, new)
    gateway.tag_version("partnerscore", new, {registry.REPLACES: old})
    gateway.set_alias("partnerscore", CHAMPION, new)  # ... and the process dies here
    assert exported_version(workspace.champion) == old
    with workspace_lock(workspace):
        assert registry.sync_champion(gateway, workspace, "partnerscore") == new
    assert exported_version(workspace.champion) == new
    assert gateway.alias_version("partnerscore", PREVIOUS) == old
    assert gateway.alias_version("partnerscore", CHALLENGER) is None


def test_leftovers_of_killed_writers_are_removed_under_the_lock(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws").ensure()
    (workspace.store / "periods").mkdir()
    workspace.weak_signals.parent.mkdir()
    dead = 4_000_000  # above Linux's default pid_max: no such process
    stale = [workspace.store / ".manifest.json.0a1b2c3d4e5f.tmp",
             workspace.weak_signals.parent / ".weak-signals.json.0a1b2c3d4e5f.tmp",
             workspace.store / "periods" / ".2025-01-abc.parquet.9f8e7d6c5b4a.tmp",
             workspace.root / f".mlflow.db.{dead}.tmp", workspace.root / f".mlflow.db.{dead}.tmp-journal"]
    kept = [workspace.root / f".mlflow.db.{os.getppid()}.tmp",  # a live process is creating it
            workspace.root / "mlflow.db-journal", workspace.store / "manifest.json",
            workspace.root / ".scores.csv.0a1b2c3d4e5f.tmp"]  # `predict --output` writing here
    for path in stale + kept:
        path.write_bytes(b"x")
    link = workspace.root / f".champion.{dead}.tmp"
    link.symlink_to("exports/v1-x")
    with workspace_lock(workspace):
        pass
    assert not any(p.exists() for p in stale) and not link.is_symlink()
    assert all(p.exists() for p in kept)
    assert remove_leftovers(workspace) == []


def test_half_copied_exports_are_discarded_but_complete_ones_kept(campaign: Campaign,
                                                                  tmp_path: Path) -> None:
    import shutil

    from pipelines.storage.bundle import FILES, discard_partial_exports

    workspace = campaign.workspace
    exports = workspace.root / "exports"
    partial = exports / "v99-partial"
    partial.mkdir()
    shutil.copyfile(workspace.champion / FILES[0], partial / FILES[0])
    complete_before = {p for p in exports.iterdir() if p != partial}
    assert discard_partial_exports(workspace.champion) == [partial]
    assert set(exports.iterdir()) == complete_before
    assert load_bundle(workspace.champion)

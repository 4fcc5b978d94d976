"""Concurrency: jobs that change a workspace serialise on its lock, readers never see a mixture.

Two real `partnerscore retrain` processes started together must both finish, one after
the other: two new versions (no lost or duplicate version), one champion, an intact
SQLite database, and a `predict` that works throughout from a verified champion.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import SAMPLE, split_history

from model.config import Config
from pipelines.settings import Workspace, default_config_text, load_config
from pipelines.storage import store
from pipelines.storage.bundle import exported_version
from pipelines.storage.lock import WorkspaceBusy, workspace_lock

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_uris() -> Iterator[None]:
    """Leave MLflow's process-wide URIs as this module found them (other modules rely on them)."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    saved = tracking_uris._tracking_uri, registry_uris._registry_uri
    yield
    tracking_uris._tracking_uri, registry_uris._registry_uri = saved


def _cli(workspace: Workspace, *args: str, config: Path | None = None) -> list[str]:
    options = ["--config", str(config)] if config else []
    return [sys.executable, "-m", "pipelines.cli", "--workspace", str(workspace.root), *options, *args]


def _fast_config(directory: Path) -> tuple[Config, Path, str]:
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=20, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(log_loss_tolerance=1.0)
    text = yaml.safe_dump(raw)
    path = directory / "fast.yaml"
    path.write_text(text)
    return load_config(path), path, text


def _registry(workspace: Workspace) -> tuple[list[int], dict[str, str], str]:
    """Versions, aliases and the integrity check, read straight from SQLite."""
    connection = sqlite3.connect(workspace.mlflow_db)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        versions = sorted(int(v) for (v,) in connection.execute(
            "SELECT version FROM model_versions WHERE name = 'partnerscore'"))
        aliases = {a: str(v) for a, v in connection.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = 'partnerscore'")}
    finally:
        connection.close()
    return versions, aliases, integrity


def test_two_retrains_started_together_serialise(tmp_path: Path) -> None:
    from pipelines.jobs.ingest import ingest_file
    from pipelines.jobs.predict import run_predict
    from pipelines.jobs.train import run_training

    config, config_path, text = _fast_config(tmp_path)
    earlier, newest = split_history(tmp_path)
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, earlier)
    proposals = store.read_all(workspace, config)
    assert proposals is not None
    run_training(workspace, config, text, proposals, "store")
    command = _cli(workspace, "retrain", str(newest), config=config_path)
    processes = [subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    reads = 0
    while any(p.poll() is None for p in processes):
        batch, _ = run_predict(workspace.champion, str(SAMPLE / "new_proposals.csv"))
        assert batch.proposals and batch.model["version"] in {"1", "2"}
        reads += 1
        time.sleep(0.5)
    outputs = [p.communicate(timeout=60) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    texts = [out.decode() for out, _ in outputs]
    # The second, waiting for the lock, finds the period stored and learned: nothing new.
    assert sorted("ingested 2025-12: stored" in t for t in texts) == [False, True]
    assert sorted("Nothing new since the champion" in t for t in texts) == [False, True]
    assert sum("Challenger version 2 promoted" in t for t in texts) == 1
    versions, aliases, integrity = _registry(workspace)
    assert integrity == "ok"
    assert versions == [1, 2]
    assert aliases == {"champion": "2", "previous": "1"}
    assert exported_version(workspace.champion) == "2"
    assert list(store.read_manifest(workspace)["periods"]).count("2025-12") == 1
    assert reads > 0


def test_two_ingests_of_different_periods_lose_neither(tmp_path: Path) -> None:
    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    files = []
    for period in ("2025-01", "2025-02"):
        path = tmp_path / f"{period}.csv"
        frame[frame["trial_period"] == period].to_csv(path, index=False)
        files.append(path)
    workspace = Workspace(tmp_path / "ws")
    processes = [subprocess.Popen(_cli(workspace, "ingest", str(f)), env=ENV, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for f in files]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    assert set(store.read_manifest(workspace)["periods"]) == {"2025-01", "2025-02"}
    assert store.verify_store(workspace) == []


def test_a_job_that_cannot_get_the_lock_fails_clearly_with_75(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws").ensure()
    fd = os.open(workspace.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = subprocess.run(_cli(workspace, "ingest", str(SAMPLE / "history.csv")),
                                env={**ENV, "PARTNERSCORE_LOCK_WAIT_SECONDS": "1"},
                                capture_output=True, timeout=120, check=False)
    finally:
        os.close(fd)
    err = " ".join(result.stderr.decode().split())
    assert result.returncode == 75, err
    assert "another partnerscore job is changing" in err and "Traceback" not in err
    assert not (workspace.store / "manifest.json").exists()


def test_the_lock_waits_then_gives_up_in_process(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    with workspace_lock(workspace):
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy, match="waited"), workspace_lock(workspace, wait_seconds=0.5):
            pass
        assert 0.4 < time.monotonic() - started < 3


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws").ensure()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(workspace.lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    with pytest.raises(WorkspaceBusy), workspace_lock(workspace, wait_seconds=0.3):
        pass
    holder.kill()
    holder.wait()
    with workspace_lock(workspace, wait_seconds=5):
        pass

"""Failures from outside: a tracking server down or hanging, and a full disk.

A dead or silent tracking server makes train and retrain fail within the bound set by
the configuration's `tracking` section, with a readable message, having promoted and
written nothing; prediction keeps working from the verified exported champion and
names its version and sync time. A full disk at any write leaves the previous state:
store manifest, exported champion and registry aliases unchanged, no temporary files.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import SAMPLE

from model.config import Config
from pipelines.settings import Workspace, default_config_text, load_config
from pipelines.storage import store
from pipelines.storage.atomic import write_atomic
from pipelines.storage.bundle import exported_version, load_bundle
from pipelines.tracking import gateway as tracking

TIMEOUT, RETRIES = 2, 1
BOUND = TIMEOUT * (RETRIES + 1)  # tracking.wait_bound for these settings
STARTUP = 30.0  # a cold `partnerscore` process on two busy cores


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_uris() -> Iterator[None]:
    """Leave MLflow's process-wide URIs as this module found them (other modules rely on them)."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    saved = tracking_uris._tracking_uri, registry_uris._registry_uri
    yield
    tracking_uris._tracking_uri, registry_uris._registry_uri = saved


@dataclass(frozen=True)
class Setup:
    """A workspace with champion v1 and challenger v2, its fast config, and the split history."""

    workspace: Workspace
    config: Config
    config_path: Path
    text: str
    earlier: Path
    newest: Path


def _write_config(directory: Path) -> tuple[Config, Path, str]:
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=20, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(log_loss_tolerance=1.0)
    raw["tracking"] = {"timeout_seconds": TIMEOUT, "retries": RETRIES}
    text = yaml.safe_dump(raw)
    path = directory / "fast.yaml"
    path.write_text(text)
    return load_config(path), path, text


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """Train v1 (champion) and v2 (challenger) in-process with the fast configuration."""
    from pipelines.jobs.ingest import ingest_file
    from pipelines.jobs.train import run_training

    directory = tmp_path_factory.mktemp("outside")
    config, path, text = _write_config(directory)
    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    earlier, newest = directory / "earlier.csv", directory / "newest.csv"
    frame[frame["trial_period"] < "2025-12"].to_csv(earlier, index=False)
    frame[frame["trial_period"] == "2025-12"].to_csv(newest, index=False)
    workspace = Workspace(directory / "ws")
    ingest_file(workspace, config, earlier)
    proposals = store.read_all(workspace, config)
    assert proposals is not None
    run_training(workspace, config, text, proposals, "store", seed=0)
    run_training(workspace, config, text, proposals, "store", seed=1)
    return Setup(workspace, config, path, text, earlier, newest)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def closed_uri() -> str:
    """A loopback URI where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{_closed_port()}"


@pytest.fixture
def silent_uri() -> Iterator[str]:
    """A loopback socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


class _HealthOnly(BaseHTTPRequestHandler):
    """Answers /health, then hangs on every API request (a server stuck behind a healthy proxy)."""

    def do_GET(self) -> None:
        if self.path.startswith("/health"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")
        else:
            time.sleep(3 * BOUND)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def half_alive_uri() -> Iterator[str]:
    """A server whose /health answers while its API requests hang."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _state(workspace: Workspace) -> dict[str, Any]:
    """Everything a failed job must leave as it was."""
    return {"store": (workspace.store / "manifest.json").read_bytes(),
            "champion": os.readlink(workspace.champion),
            "exports": sorted(p.name for p in (workspace.root / "exports").iterdir()),
            "db": workspace.mlflow_db.stat().st_mtime_ns,
            "temporary": sorted(p.name for p in workspace.root.rglob("*.tmp"))}


def _cli(setup: Setup, uri: str, *args: str) -> tuple[subprocess.CompletedProcess[bytes], float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": uri}
    command = [sys.executable, "-m", "pipelines.cli", "--workspace", str(setup.workspace.root),
               "--config", str(setup.config_path), *args]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
    return result, time.monotonic() - started


def _assert_clear_failure(result: subprocess.CompletedProcess[bytes], uri: str) -> None:
    err = " ".join(result.stderr.decode().split())  # the console wraps long lines
    assert result.returncode == 69, err
    assert f"tracking server unreachable at {uri}" in err, err
    assert "Traceback" not in err


def _open(setup: Setup) -> tracking.Gateway:
    return tracking.Gateway.open(setup.workspace, setup.config.tracking, setup.config.model.experiment)


def test_wait_bound_matches_the_settings() -> None:
    from model.config import TrackingSettings

    assert tracking.wait_bound(TrackingSettings(timeout_seconds=TIMEOUT, retries=RETRIES)) == BOUND
    assert tracking.wait_bound(TrackingSettings(timeout_seconds=5, retries=3)) == 5 * 4 + 2 + 4


def test_connect_sets_mlflow_http_bounds_from_the_config(setup: Setup,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    _open(setup)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == str(TIMEOUT)
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == str(RETRIES)
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] == "0"


@pytest.mark.parametrize("server", ["closed_uri", "silent_uri"])
def test_retrain_fails_within_the_bound_and_changes_nothing(server: str, setup: Setup,
                                                            request: pytest.FixtureRequest,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, timed tightly: no ingest, no version, no alias move, no file written."""
    from pipelines.jobs.retrain import run_retrain

    uri = request.getfixturevalue(server)
    before = _state(setup.workspace)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match=f"unreachable at {uri}"):
        run_retrain(setup.workspace, setup.config, setup.text, setup.newest)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND + 2.0
    if server == "silent_uri":
        assert elapsed >= BOUND - 0.5, "each try waits for the configured timeout"
    assert _state(setup.workspace) == before


def test_train_cli_fails_clearly_on_a_silent_server(setup: Setup, silent_uri: str) -> None:
    before = _state(setup.workspace)
    result, elapsed = _cli(setup, silent_uri, "train", "--data", str(setup.earlier))
    _assert_clear_failure(result, silent_uri)
    assert elapsed < BOUND + STARTUP
    assert _state(setup.workspace) == before


def test_retrain_command_fails_clearly_on_a_closed_port(setup: Setup, closed_uri: str,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI entry point in-process (no interpreter start-up to wait for)."""
    from pipelines.cli.app import main

    before = _state(setup.workspace)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", closed_uri)
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(setup.workspace.root), "--config", str(setup.config_path), "retrain",
              str(setup.newest)])
    err = capsys.readouterr().err
    _assert_clear_failure(subprocess.CompletedProcess([], int(stop.value.code or 0), b"", err.encode()),
                          closed_uri)
    assert _state(setup.workspace) == before


def test_api_requests_hanging_behind_a_healthy_endpoint_are_bounded(setup: Setup, half_alive_uri: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", half_alive_uri)
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match="did not answer its API requests"):
        _open(setup)
    assert time.monotonic() - started < BOUND + 3.0


def test_predict_works_offline_and_names_the_version_and_sync_time(setup: Setup, closed_uri: str) -> None:
    result, _ = _cli(setup, closed_uri, "predict", str(SAMPLE / "new_proposals.csv"), "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    synced = load_bundle(setup.workspace.champion).registry["synced_at"]
    assert document["model"]["version"] == "1" and document["model"]["synced_at"] == synced
    assert f"partnerscore v1, synced {synced}" in result.stderr.decode()


def test_predict_from_the_registry_on_a_silent_server_is_bounded(setup: Setup, silent_uri: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a config, prediction's registry download is bounded by MLflow's own variables."""
    from pipelines.jobs.predict import run_predict

    monkeypatch.setenv("MLFLOW_TRACKING_URI", silent_uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match="unreachable"):
        run_predict(setup.workspace.champion, str(SAMPLE / "new_proposals.csv"),
                    model="models:/partnerscore/1")
    assert time.monotonic() - started < 1 + 2.0


# A full disk -----------------------------------------------------------------------------

def _no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _raise_no_space(*args: Any, **kwargs: Any) -> Any:
    raise _no_space()


class _FullFile:
    """A file object that accepts `budget` bytes, then fails like a full disk."""

    def __init__(self, handle: Any, budget: list[int]) -> None:
        self._handle, self._budget = handle, budget

    def write(self, data: bytes) -> int:
        room = max(self._budget[0], 0)
        self._handle.write(data[:room])
        self._budget[0] -= len(data)
        if len(data) > room:
            raise _no_space()
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """Every file opened by `pipelines.storage.atomic.write_atomic` shares `budget` bytes, then ENOSPC."""
    remaining = [budget]
    fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullFile(fdopen(fd, *a, **k), remaining))


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_write_atomic_keeps_the_old_file_when_the_disk_is_full(failing: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.json"
    target.write_bytes(b"old content")
    if failing == "write":
        _fill_disk_after(monkeypatch, 3)
    else:
        monkeypatch.setattr(os, "fsync", _raise_no_space)  # delayed allocation reports it here
    with pytest.raises(OSError) as error:
        write_atomic(target, b"new content, longer")
    assert error.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old content" and _temporary_files(tmp_path) == []


@pytest.mark.parametrize("budget", [0, 4096, 10**9], ids=["period-file", "mid-file", "manifest"])
def test_ingest_on_a_full_disk_leaves_the_store_as_it_was(budget: int, tmp_path: Path, config: Config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.jobs.ingest import ingest_file

    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    frame[frame["trial_period"] == "2025-01"].to_csv(first, index=False)
    frame[frame["trial_period"] == "2025-02"].to_csv(second, index=False)
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, first)
    manifest = (workspace.store / "manifest.json").read_bytes()
    if budget == 10**9:  # the period file fits; the disk is full when the manifest is written
        real = store.write_atomic

        def full_at_manifest(path: Path, data: bytes) -> None:
            with monkeypatch.context() as patch:
                if path.name == "manifest.json":
                    _fill_disk_after(patch, 10)
                real(path, data)

        monkeypatch.setattr(store, "write_atomic", full_at_manifest)
    else:
        _fill_disk_after(monkeypatch, budget)
    with pytest.raises(OSError):
        ingest_file(workspace, config, second)
    monkeypatch.undo()
    assert (workspace.store / "manifest.json").read_bytes() == manifest
    assert store.verify_store(workspace) == [] and _temporary_files(workspace.root) == []
    assert ingest_file(workspace, config, second).periods == {"2025-02": "stored"}


def _aliases(setup: Setup) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = setup.workspace.tracking_uri()
    model = MlflowClient(uri, uri).get_registered_model("partnerscore")
    return {alias: str(version) for alias, version in model.aliases.items()}


def _not_champion(setup: Setup) -> str:
    return "2" if _aliases(setup)["champion"] == "1" else "1"


def test_promotion_on_a_full_disk_keeps_the_champion(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The export is staged before any alias moves: a full disk there changes nothing."""
    from pipelines.tracking import registry

    gateway = _open(setup)
    before, aliases = _state(setup.workspace), _aliases(setup)
    copy = shutil.copyfile

    def half_copy(source: Any, target: Any, **kwargs: Any) -> Any:
        if "exports" not in Path(target).parts:  # MLflow's download into a temporary directory
            return copy(source, target, **kwargs)
        data = Path(source).read_bytes()
        Path(target).write_bytes(data[: len(data) // 2])
        raise _no_space()

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    with pytest.raises(OSError):
        registry.promote(gateway, setup.workspace, "partnerscore", _not_champion(setup), "test")
    monkeypatch.setattr(shutil, "copyfile", copy)
    assert _aliases(setup) == aliases and _state(setup.workspace) == before
    load_bundle(setup.workspace.champion)


def test_a_full_disk_at_the_link_swap_is_finished_by_the_next_sync(setup: Setup,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the commit point the registry has moved; the export follows at the next sync."""
    from pipelines.tracking import registry

    gateway = _open(setup)
    old = exported_version(setup.workspace.champion)
    new = _not_champion(setup)
    monkeypatch.setattr(os, "replace", _raise_no_space)
    with pytest.raises(OSError):
        registry.promote(gateway, setup.workspace, "partnerscore", new, "test")
    monkeypatch.undo()
    assert _aliases(setup)["champion"] == new and exported_version(setup.workspace.champion) == old
    load_bundle(setup.workspace.champion)
    assert not [p for p in setup.workspace.root.iterdir() if p.name.startswith(".champion")]
    assert registry.sync_champion(gateway, setup.workspace, "partnerscore") == new
    assert exported_version(setup.workspace.champion) == new
    registry.rollback(gateway, setup.workspace, "partnerscore")
    assert exported_version(setup.workspace.champion) == old == _aliases(setup)["champion"]


def test_training_on_a_full_disk_registers_nothing(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.jobs.train import run_training
    from pipelines.storage import bundle

    proposals = store.read_all(setup.workspace, setup.config)
    assert proposals is not None
    gateway = _open(setup)
    versions = {v.version for v in gateway.versions("partnerscore")}
    before, aliases = _state(setup.workspace), _aliases(setup)

    def full(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise _no_space()

    monkeypatch.setattr(bundle, "write_synced", full)
    with pytest.raises(OSError):
        run_training(setup.workspace, setup.config, setup.text, proposals, "store", seed=3)
    assert {v.version for v in gateway.versions("partnerscore")} == versions
    assert _aliases(setup) == aliases
    assert {k: v for k, v in _state(setup.workspace).items() if k != "db"} == \
        {k: v for k, v in before.items() if k != "db"}

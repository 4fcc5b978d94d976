"""The store's weak-signal report is kept beside the store and read back while it holds.

`decide`, `report` and `partnerscore surprises` (without files) would otherwise refit the
cross-validated main-effects models at every call. A kept report must be exactly the
one computing it again gives, and must never outlive the store, the configuration or
the seed it was computed for, nor hide a damaged store.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_surprises_command import history

import model.surprises
from model.config import Config
from pipelines.cli.app import main
from pipelines.cli.commands import csv_bytes
from pipelines.jobs.surprises import (
    keep_weak_signals,
    kept_weak_signals,
    store_key,
    store_weak_signals,
)
from pipelines.settings import Workspace
from pipelines.storage import store
from pipelines.storage.readers import load_proposals

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def planted(config: Config) -> Any:
    return history(planted=True)


def _workspace(tmp_path: Path, frame: Any, config: Config) -> Workspace:
    workspace = Workspace.resolve(tmp_path / "ws")
    path = tmp_path / "history.csv"
    path.write_bytes(csv_bytes(frame))
    store.ingest(workspace, load_proposals(path, config, labelled=True), config,
                 source=str(path))
    return workspace


def _forbid_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the report was computed again")
    monkeypatch.setattr("pipelines.jobs.surprises.surprises_for", refuse)


def test_a_kept_report_is_exactly_the_computed_one(
        planted: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = _workspace(tmp_path, planted, config)
    assert not workspace.weak_signals.exists()
    computed = store_weak_signals(workspace, config)
    assert computed is not None and computed.report is not None and computed.report.strong
    assert workspace.weak_signals.is_file()
    _forbid_computing(monkeypatch)
    kept = store_weak_signals(workspace, config)
    assert kept == computed  # every cell, figure, label and flag, and the count tested


def test_the_store_the_configuration_or_the_seed_changing_computes_it_again(
        planted: Any, config: Config, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, planted, config)
    first = store_weak_signals(workspace, config)
    assert first is not None and kept_weak_signals(workspace, config, 0) == first
    assert kept_weak_signals(workspace, config, 1) is None
    edited = dataclasses.replace(config, digest="another configuration file")
    assert kept_weak_signals(workspace, edited, 0) is None
    assert kept_weak_signals(workspace, dataclasses.replace(config, digest=""), 0) is None
    newer = history(planted=False, seed=9)
    newer["proposal_id"] = "N-" + newer["proposal_id"].astype(str)
    newer["trial_period"] = "2031-01"
    before = store_key(workspace, config, 0)
    _ = _workspace(tmp_path, newer, config)  # the same workspace: a new period ingested
    assert store_key(workspace, config, 0) != before
    assert kept_weak_signals(workspace, config, 0) is None
    again = store_weak_signals(workspace, config)
    assert again is not None and again.rows == first.rows + len(newer)


def test_a_damaged_store_is_said_to_be_one_even_with_a_kept_report(
        planted: Any, config: Config, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, planted, config)
    assert store_weak_signals(workspace, config) is not None
    period = next(iter(store.read_manifest(workspace)["periods"].values()))
    (workspace.store / period["file"]).write_bytes(b"altered")
    assert kept_weak_signals(workspace, config, 0) is None
    damaged = store_weak_signals(workspace, config)
    assert damaged is not None and damaged.report is None
    assert "could not be read" in damaged.refused


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"format": "other"}),
                                     json.dumps({"format": "partnerscore-weak-signals/1"})])
def test_an_unreadable_kept_report_is_computed_again_and_replaced(
        planted: Any, config: Config, tmp_path: Path, content: str) -> None:
    workspace = _workspace(tmp_path, planted, config)
    workspace.weak_signals.parent.mkdir(parents=True, exist_ok=True)
    workspace.weak_signals.write_text(content, "utf-8")
    assert kept_weak_signals(workspace, config, 0) is None
    computed = store_weak_signals(workspace, config)
    assert computed is not None and kept_weak_signals(workspace, config, 0) == computed


def test_a_report_kept_by_an_earlier_version_is_computed_again_with_value_labels(
        planted: Any, config: Config, tmp_path: Path) -> None:
    """Reports kept before cells carried their values' labels (format 1) are not reused:
    `surprises --format json` would lack `value_labels`."""
    workspace = _workspace(tmp_path, planted, config)
    computed = store_weak_signals(workspace, config)
    assert computed is not None and computed.report is not None
    assert all(c.value_labels is not None for c in computed.report.cells)
    kept = json.loads(workspace.weak_signals.read_text("utf-8"))
    earlier = {**kept, "format": "partnerscore-weak-signals/1"}
    workspace.weak_signals.write_text(json.dumps(earlier), "utf-8")
    assert kept_weak_signals(workspace, config, 0) is None


def test_a_report_is_kept_under_the_key_of_the_store_as_read(
        planted: Any, config: Config, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, planted, config)
    signals = store_weak_signals(workspace, config)
    assert signals is not None
    workspace.weak_signals.unlink()
    keep_weak_signals(workspace, "a key of an earlier store", signals)
    assert kept_weak_signals(workspace, config, 0) is None
    keep_weak_signals(workspace, None, signals)  # nothing to key it on: nothing kept
    assert kept_weak_signals(workspace, config, 0) is None


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(argv)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(stop.value.code or 0), captured.out + captured.err


def test_the_command_reads_the_kept_report_and_files_never_use_it(
        planted: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    workspace = _workspace(tmp_path, planted, config)
    argv = ["surprises", "--workspace", str(workspace.root), "--format", "json"]
    status, computed = _run(argv, capsys)
    assert status == 0 and workspace.weak_signals.is_file()
    calls = []
    real = model.surprises.surprises_for

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr("pipelines.jobs.surprises.surprises_for", counted)
    status, kept = _run(argv, capsys)
    assert status == 0 and kept == computed and not calls
    quiet = tmp_path / "quiet.csv"
    quiet.write_bytes(csv_bytes(history(planted=False)))
    status, from_file = _run([*argv, "--data", str(quiet)], capsys)
    assert status == 0 and len(calls) == 1 and from_file != computed

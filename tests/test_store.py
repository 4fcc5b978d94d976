"""The labelled store: idempotent ingest, refusals, archives, and crash safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE

from model.config import Config
from model.validation import ContractError
from pipelines.jobs.ingest import ingest_file
from pipelines.settings import Workspace
from pipelines.storage import store


@pytest.fixture
def periods(tmp_path: Path) -> dict[str, Path]:
    """The sample history split into one CSV per period (as text, untouched)."""
    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    out = {}
    for period, group in frame.groupby("trial_period"):
        path = tmp_path / f"{period}.csv"
        group.to_csv(path, index=False)
        out[str(period)] = path
    return out


def test_ingest_is_idempotent(tmp_path: Path, config: Config, periods: dict[str, Path]) -> None:
    workspace = Workspace(tmp_path / "ws")
    first = ingest_file(workspace, config, periods["2025-01"])
    manifest = (workspace.store / "manifest.json").read_bytes()
    again = ingest_file(workspace, config, periods["2025-01"])
    assert first.periods == {"2025-01": "stored"} and first.changed
    assert again.periods == {"2025-01": "unchanged"} and not again.changed
    assert (workspace.store / "manifest.json").read_bytes() == manifest
    stored = store.read_all(workspace, config)
    assert stored is not None and len(stored) == 40


def test_different_content_is_refused_unless_replaced_and_then_archived(
        tmp_path: Path, config: Config, periods: dict[str, Path]) -> None:
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, periods["2025-02"])
    original = store.stored_file(workspace, "2025-02")
    changed = pd.read_csv(periods["2025-02"], dtype=str, keep_default_na=False)
    changed.loc[0, "real_impact"] = "true" if changed.loc[0, "real_impact"] == "false" else "false"
    edited = tmp_path / "edited.csv"
    changed.to_csv(edited, index=False)
    with pytest.raises(ContractError, match="--replace"):
        ingest_file(workspace, config, edited)
    assert store.stored_file(workspace, "2025-02") == original
    outcome = ingest_file(workspace, config, edited, replace=True)
    assert outcome.periods == {"2025-02": "replaced"}
    manifest = store.read_manifest(workspace)
    assert manifest["archive"][0]["file"] == original.relative_to(workspace.store).as_posix()
    assert original.exists(), "the previous version is kept"


def test_an_id_stored_under_another_period_names_both(tmp_path: Path, config: Config,
                                                      periods: dict[str, Path]) -> None:
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, periods["2025-03"])
    clash = pd.read_csv(periods["2025-04"], dtype=str, keep_default_na=False)
    stolen = pd.read_csv(periods["2025-03"], dtype=str, keep_default_na=False).loc[0, "proposal_id"]
    clash.loc[2, "proposal_id"] = stolen
    path = tmp_path / "clash.csv"
    clash.to_csv(path, index=False)
    with pytest.raises(ContractError) as error:
        ingest_file(workspace, config, path)
    (problem,) = error.value.problems
    assert problem.row == 4 and problem.value == stolen
    assert "2025-03" in problem.expected and "2025-04" in problem.expected
    assert "2025-04" not in store.read_manifest(workspace)["periods"]


def test_period_option_must_match_every_row(tmp_path: Path, config: Config,
                                            periods: dict[str, Path]) -> None:
    with pytest.raises(ContractError) as error:
        ingest_file(Workspace(tmp_path / "ws"), config, periods["2025-05"], period="2025-06")
    assert len(error.value.problems) == 40


def test_killed_ingests_leave_a_valid_store(tmp_path: Path, config: Config) -> None:
    """SIGKILL at random moments: the store is as before or after, never half-written."""
    workspace = Workspace(tmp_path / "ws")
    rng = random.Random(5)
    command = [sys.executable, "-m", "pipelines.cli", "--workspace", str(workspace.root),
               "ingest", str(SAMPLE / "history.csv")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(6):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert store.verify_store(workspace) == []
        manifest = store.read_manifest(workspace)
        assert set(manifest["periods"]) in (set(), {f"2025-{m:02d}" for m in range(1, 13)})
    finished = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    stored = store.read_all(workspace, config)
    assert stored is not None and len(stored) == 480
    assert not [p for p in workspace.store.rglob("*") if p.name.endswith(".tmp")]


def test_listing_a_damaged_store_shows_it_and_exits_3(tmp_path: Path, config: Config,
                                                     periods: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, periods["2025-01"])
    ingest_file(workspace, config, periods["2025-02"])
    damaged = store.stored_file(workspace, "2025-02")
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(SystemExit) as stopped:
        main(["--workspace", str(workspace.root), "store"])
    shown = " ".join(capsys.readouterr().out.split())
    assert stopped.value.code == 3
    assert "2025-01" in shown and "DAMAGED" in shown and "2025-02" in shown


def test_an_empty_store_says_so_and_how_to_fill_it(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    main(["--workspace", str(tmp_path / "ws"), "store"])  # returns: status 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "holds no period yet" in shown and "partnerscore ingest FILE" in shown
    assert "┃ period" not in shown and not (tmp_path / "ws").exists()


def test_ingest_notes_a_feature_the_file_lacks(tmp_path: Path, config: Config,
                                               periods: dict[str, Path]) -> None:
    frame = pd.read_csv(periods["2025-01"]).drop(columns=["partner_headcount"])
    path = tmp_path / "no-headcount.csv"
    frame.to_csv(path, index=False)
    outcome = ingest_file(Workspace(tmp_path / "ws"), config, path)
    assert outcome.periods == {"2025-01": "stored"}
    assert outcome.notes == ("the file has no column partner_headcount: every proposal of it "
                             "counts as not giving it",)
    assert ingest_file(Workspace(tmp_path / "ws2"), config, periods["2025-01"]).notes == ()

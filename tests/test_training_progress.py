"""Training progress: stages in order from the domain, bars on a terminal and nowhere else."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import SAMPLE, split_history
from rich.console import Console

import model.parallel
from model.config import Config
from model.training import BACKTEST, CROSS_VALIDATION, train_model
from pipelines.cli.progress import TerminalProgress, training_progress
from pipelines.jobs.ingest import ingest_file
from pipelines.jobs.retrain import run_retrain
from pipelines.jobs.train import run_training
from pipelines.settings import Workspace, default_config_text, load_config
from pipelines.storage import store

ROOT = Path(__file__).resolve().parent.parent
SPINNER = ("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")
BAR_GLYPHS = ("━", "╸", "╺", "\x1b[", *SPINNER)
STAGES = (CROSS_VALIDATION, BACKTEST, "Logging to MLflow")


class Recorder:
    """A Progress that remembers every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []  # (stage name, total) or ("", steps)

    def stage(self, name: str, total: int) -> None:
        self.events.append((name, total))

    def advance(self, steps: int = 1) -> None:
        self.events.append(("", steps))

    def stages(self) -> list[tuple[str, int, int]]:
        """(name, announced total, steps advanced) per stage, in order."""
        assert self.events and self.events[0][0], "a step came before any stage"
        out: list[tuple[str, int, int]] = []
        for name, count in self.events:
            if name:
                out.append((name, count, 0))
            else:
                current, total, done = out[-1]
                out[-1] = (current, total, done + count)
        return out


def _quick(config: Config, n_jobs: int = 1) -> Config:
    settings = dataclasses.replace(config.model, cv_repeats=1, bootstrap_samples=20,
                                   backtest_periods=3, n_jobs=n_jobs)
    return dataclasses.replace(config, model=settings)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_training_reports_its_stages_in_order_and_completes_each(
        history: pd.DataFrame, config: Config, n_jobs: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model.parallel, "MIN_ROWS_FOR_WORKERS", 0)
    recorder = Recorder()
    quick = _quick(config, n_jobs)
    result = train_model(history, quick, seed=0, progress=recorder)
    stages = recorder.stages()
    assert [name for name, _, _ in stages] == [CROSS_VALIDATION, BACKTEST]
    assert all(done == total for _, total, done in stages)
    fits = len(result.candidates) * result.data_summary["cv_folds"]
    assert stages[0][1] == fits
    # the final fit, each backtest period, then the two bootstrap intervals
    assert stages[1][1] == 1 + len(result.backtest) + 2 == 6


def _fast(tmp_path: Path) -> tuple[Config, str]:
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=20, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(log_loss_tolerance=1.0)
    text = yaml.safe_dump(raw)
    (tmp_path / "fast.yaml").write_text(text)
    return load_config(tmp_path / "fast.yaml"), text


def test_train_and_retrain_jobs_report_logging_and_the_comparison(tmp_path: Path) -> None:
    config, text = _fast(tmp_path)
    earlier, newest = split_history(tmp_path)
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, config, earlier)
    frame = store.read_all(workspace, config)
    assert frame is not None
    first = Recorder()
    run_training(workspace, config, text, frame, "store", progress=first)
    assert [s[0] for s in first.stages()] == [CROSS_VALIDATION, BACKTEST, "Logging to MLflow"]
    second = Recorder()
    run_retrain(workspace, config, text, newest, period="2025-12", progress=second)
    stages = second.stages()
    assert [s[0] for s in stages] == [CROSS_VALIDATION, BACKTEST, "Logging to MLflow",
                                      "Comparing with the champion"]
    assert all(done == total for _, total, done in stages)


def test_bars_render_each_stage_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with TerminalProgress(console) as progress:
        progress.stage(CROSS_VALIDATION, 4)
        progress.advance(4)
        progress.stage(BACKTEST, 2)
        progress.advance()
    text = buffer.getvalue()
    assert CROSS_VALIDATION in text and BACKTEST in text
    assert "4/4" in text and "2/2" in text  # the last stage is shown complete at the end


def test_no_bars_without_a_terminal() -> None:
    # pytest captures standard output and error: neither is a terminal here
    with training_progress(show=True) as progress:
        assert not isinstance(progress, TerminalProgress)


def _cli(tmp_path: Path, *args: str) -> list[str]:
    _fast(tmp_path)
    return [sys.executable, "-m", "pipelines.cli", "--workspace", str(tmp_path / "ws"),
            "--config", str(tmp_path / "fast.yaml"), "train", "--data",
            str(SAMPLE / "history.csv"), *args]


def test_json_output_is_pure_json_and_nothing_is_drawn(tmp_path: Path) -> None:
    done = subprocess.run(_cli(tmp_path, "--format", "json"), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["registered"]["version"] == "1"
    assert not any(glyph in done.stderr for glyph in BAR_GLYPHS), done.stderr
    assert not any(stage in done.stderr for stage in STAGES)


def test_text_output_through_a_pipe_draws_nothing(tmp_path: Path) -> None:
    done = subprocess.run(_cli(tmp_path), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Registered partnerscore version 1" in done.stdout
    assert not any(glyph in done.stderr for glyph in BAR_GLYPHS), done.stderr
    for stream in (done.stdout, done.stderr):  # the summary's tables use box characters
        assert not any(stage in stream for stage in STAGES)
        assert not any(glyph in stream for glyph in SPINNER), stream


def test_a_terminal_sees_the_stages(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(_cli(tmp_path), cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower)
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=600) == 0
    os.close(leader)
    text = shown.decode("utf-8", "replace")
    for stage in STAGES:
        assert stage in text
    assert "Registered partnerscore version 1" in text

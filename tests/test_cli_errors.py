"""Exit statuses and messages of the command line, and `--config` on every command.

Usage errors exit 2 with the usage text; each failure a user can act on has its
documented status and message; a defect (a KeyError from a bug) is an "unexpected
error" with status 1 and the debug hint, never mistaken for bad input. Every command
that reads data or the registry reads the team's configuration, before or after the
command name.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
import yaml
from conftest import SAMPLE, Trained

from model.config import ConfigError, TrackingSettings
from model.errors import ExplanationMismatch, TrainingRefused
from pipelines.cli.app import main
from pipelines.errors import NotRegistered, TrackingUnavailable
from pipelines.settings import Workspace, default_config_text
from pipelines.storage import store
from pipelines.storage.bundle import BundleError
from pipelines.storage.lock import WorkspaceBusy
from pipelines.storage.store import StoreDamaged

os.environ.setdefault("OMP_NUM_THREADS", "1")
# `pipelines.cli` exports the Typer object under the module's own name.
app_module = importlib.import_module("pipelines.cli.app")
README = Path(__file__).resolve().parent.parent / "README.md"
DEBUG_HINT = "Set PARTNERSCORE_DEBUG=1 to see the traceback."


def _flat(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


def _unfolded(err: str) -> str:
    """Standard error without spaces and table borders, so that text a table cell folded
    over several lines reads whole again."""
    return re.sub(r"[\s│]", "", err)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit status, standard output and (flattened) standard error of one in-process run."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(stop.value.code or 0), captured.out, _flat(captured.err)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages on one line each, however long their paths."""
    from rich.console import Console

    import pipelines.cli.console as console

    monkeypatch.setattr(console, "err", Console(stderr=True, highlight=False, width=400))
    monkeypatch.setattr(console, "out", Console(highlight=False, width=400))


def _team_config(directory: Path, **model: Any) -> Path:
    """The shipped configuration with other `model:` options and bounds of 7 s and no retry."""
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(model)
    raw["tracking"] = {"timeout_seconds": 7, "retries": 0}
    path = directory / "team.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return path


# --- usage errors -------------------------------------------------------------------------

USAGE_ERRORS = [
    (["predict", "--bogus"], "predict", "Error: No such option: --bogus"),
    (["frobnicate"], "", "Error: No such command 'frobnicate'."),
    (["train", "--seed", "abc"], "train",
     "Error: Invalid value for '--seed': Input should be a valid integer"),
    (["decide", "proposals.csv"], "decide", "Error: Missing option '--capacity'."),
    (["promote"], "promote", "Error: Missing argument 'version'."),
    (["predict", "--capacity", "0"], "predict", "Error: Invalid value for '--capacity'"),
    (["simulate", "--out", "x.csv", "--drift", "2"], "simulate", "Error: Invalid value for '--drift'"),
    (["predict", "x.csv", "--format", "xml"], "predict",
     "'xml' is not one of 'table', 'csv', 'json', 'jsonl', 'xlsx'"),
    (["train", "--format", "yaml"], "train", "'yaml' is not one of 'text', 'json'"),
    (["predict", "--engine", "dask"], "predict", "'dask' is not one of 'local', 'spark'"),
]


@pytest.mark.parametrize(("argv", "command", "message"), USAGE_ERRORS,
                         ids=[" ".join(a) for a, _, _ in USAGE_ERRORS])
def test_a_usage_error_exits_2_with_the_usage_text(argv: list[str], command: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(argv, capsys)
    assert status == 2, err
    usage = re.search(r"Usage: \S+ (.*?)\[OPTIONS\]", err)
    assert usage is not None and usage.group(1).strip() == command, err
    assert "--help' for help." in err and message in err, err
    assert "unexpected error" not in err and "Traceback" not in err and out == ""
    assert "Value error" not in err, "the converter's prefix is not the user's business"


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", str(SAMPLE / "new_proposals.csv"), "--format", "xlsx"],
     "Error: --format xlsx writes a file: name it with --output FILE.xlsx"),
    (["predict", "--engine", "spark"],
     "Error: --engine spark scores a Parquet table: give its FILE and --output DIR"),
])
def test_options_that_do_not_go_together_are_a_usage_error(
        argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run([*argv, "--workspace", str(tmp_path / "ws")], capsys)
    assert status == 2 and out == "" and err.strip() == message, err
    assert not (tmp_path / "ws").exists()


def test_an_option_without_its_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["store", "--config"], capsys)
    assert status == 2 and out == ""
    assert err == "Error: Option '--config' requires an argument."


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run([], capsys)
    assert status == 2
    assert "Commands:" in err and "predict" in err and "unexpected error" not in err


def test_the_real_command_prints_usage_errors_the_same_way() -> None:
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "predict", "--bogus"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Usage: python -m pipelines.cli predict [OPTIONS]")
    assert result.stderr.rstrip().endswith("Error: No such option: --bogus")
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr


# --- each failure, its status and its message ---------------------------------------------


class _Denied(Exception):
    error_code = "PERMISSION_DENIED"


FAILURES = [
    (KeyError("partner_sector"), 1, f"unexpected error: KeyError: 'partner_sector' {DEBUG_HINT}"),
    (IndexError("list index out of range"), 1, "unexpected error: IndexError: list index out of range"),
    (ConfigError(["model.cv_folds: expected a whole number >= 2, got 1"], "team.yaml"), 2,
     "invalid configuration team.yaml: - model.cv_folds: expected a whole number >= 2, got 1"),
    (TrainingRefused("only 3 proposals with real impact"), 2,
     "training refused: only 3 proposals with real impact"),
    (NotRegistered("partnerscore has no version 9"), 2, "partnerscore has no version 9"),
    (BundleError("champion: arrays.npz does not match its sha256"), 3,
     "model refused: champion: arrays.npz does not match its sha256"),
    (StoreDamaged("store/periods/2025-01.parquet is missing"), 3,
     "labelled store refused: store/periods/2025-01.parquet is missing. A stored file was changed "
     "outside partnerscore: restore it from a backup"),
    (ExplanationMismatch("contributions differ by 0.3 log-odds"), 1,
     "training stopped: contributions differ by 0.3 log-odds Check that shap and scikit-learn"),
    (TrackingUnavailable("tracking server unreachable at http://x"), 69,
     "tracking server unreachable at http://x"),
    (WorkspaceBusy("another partnerscore job is changing this workspace"), 75,
     "another partnerscore job is changing this workspace"),
    (_Denied("RESOURCE_ACCESS_DENIED"), 77, "permission denied by the tracking server"),
    (KeyboardInterrupt(), 130, ""),  # the terminal already shows ^C
    (typer.Exit(4), 4, ""),
]


@pytest.mark.parametrize(("error", "status", "message"), FAILURES,
                         ids=[type(e).__name__ for e, _, _ in FAILURES])
def test_each_failure_has_its_status_and_message(error: BaseException, status: int, message: str,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import pipelines.cli.lifecycle as lifecycle

    def fail(*args: object) -> None:
        raise error

    monkeypatch.delenv("PARTNERSCORE_DEBUG", raising=False)
    monkeypatch.setattr(lifecycle, "store_listing", fail)
    code, _, err = _run(["--workspace", str(tmp_path), "store"], capsys)
    assert code == status, err
    assert err.startswith(message), err
    assert (DEBUG_HINT in err) == isinstance(error, LookupError)
    assert "Traceback" not in err


def test_a_key_error_from_a_bug_shows_its_traceback_under_debug(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.cli.lifecycle as lifecycle

    def bug(*args: object) -> None:
        return {}["period"]

    monkeypatch.setattr(lifecycle, "store_listing", bug)
    monkeypatch.setenv("PARTNERSCORE_DEBUG", "1")
    with pytest.raises(KeyError, match="period"):
        main(["--workspace", str(tmp_path), "store"])


def test_the_statuses_are_documented_alike_in_the_readme_and_the_module() -> None:
    documented = [int(n) for n in re.findall(r"^- (\d+) ", app_module.__doc__ or "", re.M)]
    paragraph = _flat(README.read_text("utf-8").split("Exit status:", 1)[1].split("\n\n", 1)[0])
    in_readme = [int(n) for n in re.findall(r"(?:^|; )(\d+) ", paragraph)]
    assert documented == in_readme == [0, 1, 2, 3, 4, 69, 75, 77, 130]
    statuses = {status for _, status, _ in FAILURES}
    assert statuses == set(documented) - {0}


# --- the labelled store --------------------------------------------------------------------


@pytest.fixture
def stored(tmp_path: Path, history: pd.DataFrame, config: Any) -> Workspace:
    """A workspace whose store holds two periods of the sample history."""
    workspace = Workspace(tmp_path / "ws")
    for period in ("2025-01", "2025-02"):
        frame = history[history["trial_period"] == period]
        store.ingest(workspace, frame, config, source=f"{period}.csv")
    return workspace


def test_a_damaged_store_exits_3_and_the_listing_names_the_period(
        stored: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    damaged = store.stored_file(stored, "2025-02")
    damaged.write_bytes(damaged.read_bytes()[:-10])
    status, out, err = _run(["--workspace", str(stored.root), "train"], capsys)
    assert status == 3, err
    assert err.startswith(f"labelled store refused: {damaged} is missing or does not match its "
                          "sha256 in the store manifest.")
    assert not (stored.root / "mlflow.db").exists(), "nothing was trained"
    status, out, err = _run(["--workspace", str(stored.root), "store"], capsys)
    assert status == 3  # the listing is shown, and the status says the store cannot be trusted
    assert f"DAMAGED: period 2025-02: {damaged.relative_to(stored.store)} missing or altered" in _flat(out)
    assert "DAMAGED: period 2025-01" not in out


def test_store_and_train_check_the_stored_periods_against_the_team_configuration(
        stored: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = yaml.safe_load(default_config_text())
    raw["columns"]["partner_tier"] = {"type": "integer", "required": True, "feature": True,
                                      "min": 1, "max": 3}
    team = tmp_path / "tiers.yaml"
    team.write_text(yaml.safe_dump(raw), "utf-8")
    gap = "has no column partner_tier, which the configuration requires"
    for argv in (["--config", str(team), "store"], ["store", "--config", str(team)]):
        status, out, _ = _run(["--workspace", str(stored.root), *argv], capsys)
        assert status == 0
        assert [line for line in _flat(out).split("period ") if gap in line] == [
            f"2025-01 {gap}: training from the store will refuse it ",
            f"2025-02 {gap}: training from the store will refuse it"]
    status, out, _ = _run(["--workspace", str(stored.root), "store"], capsys)
    assert status == 0 and gap not in _flat(out) and "2025-02" in out
    status, _, err = _run(["--workspace", str(stored.root), "train", "--config", str(team)], capsys)
    assert status == 2, err
    assert err.startswith(f"{stored.store}: 2 problems")
    assert err.count("partner_tier") == 2 and "stored without it" in err


# --- --config on every command -------------------------------------------------------------

COMMANDS = {
    "validate": ["validate", str(SAMPLE / "new_proposals.csv")],
    "train": ["train"],
    "predict": ["predict", str(SAMPLE / "new_proposals.csv")],
    "demo": ["demo"],
    "ingest": ["ingest", str(SAMPLE / "history.csv")],
    "store": ["store"],
    "retrain": ["retrain"],
    "models": ["models"],
    "promote": ["promote", "1"],
    "rollback": ["rollback"],
    "decide": ["decide", str(SAMPLE / "new_proposals.csv"), "--capacity", "2"],
    "report": ["report"],
    "surprises": ["surprises"],
}


def test_every_command_that_reads_data_or_the_registry_is_listed() -> None:
    commands = app_module.app.registered_commands
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in commands}
    assert names - set(COMMANDS) == {"simulate"}


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after the command"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_reads_the_team_configuration(command: str, before: bool, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed team file stops each command before it does anything, wherever --config is."""
    team = tmp_path / "team.yaml"
    team.write_text("model:\n  cv_folds: five\n", "utf-8")
    option = ["--config", str(team)]
    argv = [*option, *COMMANDS[command]] if before else [*COMMANDS[command], *option]
    status, _, err = _run(["--workspace", str(tmp_path / "ws"), *argv], capsys)
    assert status == 2, err
    assert err.startswith(f"invalid configuration {team}: - ")
    assert "model.cv_folds: expected a whole number >= 2, got 'five'" in err
    assert not (tmp_path / "ws").exists(), "nothing was created"
    status, help_text, _ = _run([command, "--help"], capsys)
    assert status == 0 and "--config" in help_text


def test_the_command_option_wins_over_the_global_one(stored: Workspace, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("- not a mapping\n", "utf-8")
    good = _team_config(tmp_path)
    status, out, err = _run(["--workspace", str(stored.root), "--config", str(broken), "store",
                             "--config", str(good)], capsys)
    assert status == 0, err
    assert "2025-01" in out and "2025-02" in out


def test_report_uses_the_team_registered_name_and_tracking_bounds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import pipelines.cli.lifecycle as lifecycle
    import pipelines.report.build as build

    seen: dict[str, Any] = {}
    monkeypatch.setattr(lifecycle, "gate_history",
                        lambda ws, cfg: seen.setdefault("name", cfg.model.registered_name) and [])
    monkeypatch.setattr(build, "report_command",
                        lambda *a, **k: seen.setdefault("tracking", k["tracking"]))
    team = _team_config(tmp_path, registered_name="growth-team")
    status, _, err = _run(["--workspace", str(tmp_path), "report", "--config", str(team),
                             "--output", str(tmp_path / "model.html")], capsys)
    assert status == 0, err
    assert seen == {"name": "growth-team", "tracking": TrackingSettings(timeout_seconds=7, retries=0)}


def test_predict_from_the_registry_uses_the_team_tracking_bounds(
        trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.setenv(key, "99")  # restored after the test
    team = _team_config(tmp_path)
    status, out, err = _run(["--workspace", str(trained.workspace.root), "--config", str(team),
                             "predict", str(SAMPLE / "new_proposals.csv"), "--model",
                             "models:/partnerscore/1", "--format", "json"], capsys)
    assert status == 0, err
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert '"uri": "models:/partnerscore/1"' in out


@pytest.mark.parametrize(("registered_name", "expected"), [
    ("growth-team", "models:/growth-team@champion"), (None, "models:/partnerscore@champion")])
def test_spark_scores_the_team_registered_model(
        registered_name: str | None, expected: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import pipelines.tracking.spark as spark

    calls: list[tuple[str, TrackingSettings | None]] = []

    def score_parquet(uri: str, *args: Any, tracking: TrackingSettings | None = None,
                      **kwargs: Any) -> int:
        calls.append((uri, tracking))
        return 3

    monkeypatch.setattr(spark, "score_parquet", score_parquet)
    options = (["--config", str(_team_config(tmp_path, registered_name=registered_name))]
               if registered_name else [])
    status, _, err = _run(["--workspace", str(tmp_path), *options, "predict", "in.parquet",
                           "--engine", "spark", "--output", str(tmp_path / "out")], capsys)
    assert status == 0, err
    # without a configuration, MLflow's own variables (else the shipped defaults) bound the waits
    bounds = TrackingSettings(7, 0) if registered_name else None
    assert calls == [(expected, bounds)]
    assert f"Scored 3 proposals on Spark (local[2]) with {expected}" in err


# --- names the user gave: outputs, the workspace, fields -----------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", str(SAMPLE / "new_proposals.csv"), "--format", "csv", "--output",
      "{tmp}/missing/x.csv"], "cannot write '{tmp}/missing/x.csv': its directory '{tmp}/missing' "
     "does not exist. Nothing was written."),
    (["predict", str(SAMPLE / "new_proposals.csv"), "--format", "xlsx", "--output", "{tmp}"],
     "cannot write '{tmp}': it is a directory: name a file. Nothing was written."),
    (["report", "--output", "{tmp}/missing/r.html"], "cannot write '{tmp}/missing/r.html'"),
    (["simulate", "--periods", "1", "--out", "{tmp}/missing/h.csv"],
     "cannot write '{tmp}/missing/h.csv'"),
], ids=["missing-directory", "a-directory", "report", "simulate"])
def test_an_output_that_cannot_be_written_exits_2_naming_it(
        argv: list[str], message: str, trained: Trained, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(["--workspace", str(trained.workspace.root),
                         *(a.format(tmp=tmp_path) for a in argv)], capsys)
    assert code == 2, err
    assert " ".join(err.split()).startswith(message.format(tmp=tmp_path)), err
    assert ".tmp" not in err and sorted(p.name for p in tmp_path.iterdir()) == before


def test_simulate_writes_its_history_and_truth_together_or_neither(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "h.csv.truth.csv").mkdir()  # the truth cannot be written: nor is the history
    code, _, err = _run(["simulate", "--periods", "1", "--out", str(tmp_path / "h.csv")], capsys)
    assert code == 2 and " ".join(err.split()).startswith(
        f"cannot write '{tmp_path}/h.csv.truth.csv': it is a directory"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv.truth.csv"]
    code, _, _ = _run(["simulate", "--periods", "1", "--out", str(tmp_path / "k.csv")], capsys)
    assert code == 0 and (tmp_path / "k.csv").is_file() and (tmp_path / "k.csv.truth.csv").is_file()


def test_a_workspace_that_is_a_file_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    code, _, err = _run(["--workspace", str(path), "train", "--data",
                         str(SAMPLE / "seed_month.csv")], capsys)
    assert code == 2 and " ".join(err.split()).startswith(
        f"cannot use '{path}' as a workspace: it is a file, not a directory"), err
    assert path.read_text() == "mine"


def test_a_misspelt_field_is_refused_not_scored_as_missing(
        trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["--workspace", str(trained.workspace.root), "predict", "--set",
                           "partnership_type=referral", "--set", "partner_comitted_fte=1"], capsys)
    assert code == 2 and out == ""
    flat = " ".join(err.split())
    assert "partner_comitted_fte" in flat and "did you mean partner_committed_fte?" in flat
    assert "Fix the --set options" in flat
    frame = pd.read_csv(SAMPLE / "new_proposals.csv", dtype=str)
    frame.rename(columns={"partner_committed_fte": "partner_comitted_fte"}).to_csv(
        tmp_path / "typo.csv", index=False)
    code, out, err = _run(["--workspace", str(trained.workspace.root), "predict",
                           str(tmp_path / "typo.csv")], capsys)
    assert code == 2 and out == "", err
    assert "headed'partner_comitted_fte'lookslikeit,misspelt" in _unfolded(err)
    frame.assign(notes="ours").to_csv(tmp_path / "extra.csv", index=False)  # kept, not refused
    code, _, err = _run(["--workspace", str(trained.workspace.root), "predict",
                         str(tmp_path / "extra.csv"), "--format", "json"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("outcome", ["false", "true"])
def test_training_refused_for_one_kind_of_outcome_creates_no_workspace(
        outcome: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(SAMPLE / "seed_month.csv", dtype=str, keep_default_na=False)
    frame.assign(real_impact=outcome).to_csv(tmp_path / "one.csv", index=False)
    code, _, err = _run(["--workspace", str(tmp_path / "ws"), "train", "--data",
                         str(tmp_path / "one.csv")], capsys)
    words = "real impact" if outcome == "true" else "no real impact"
    assert code == 2 and err.startswith(f"training refused: all 28 labelled proposals have {words}")
    assert not (tmp_path / "ws").exists(), "nothing was created"


@pytest.mark.parametrize("argv", [
    ["surprises", "--data", str(SAMPLE / "history.csv")],
    ["surprises", "--data", str(SAMPLE / "history.csv"), "--format", "json"],
    ["predict", str(SAMPLE / "new_proposals.csv"), "--format", "csv"],
    ["predict", str(SAMPLE / "new_proposals.csv")],
], ids=["surprises-text", "surprises-json", "predict-csv", "predict-table"])
def test_a_reader_that_stops_early_ends_the_command_quietly(argv: list[str],
                                                           trained: Trained) -> None:
    """`partnerscore ... | head -1`: the reader is gone before anything is printed; that is no
    defect (status 1), and nothing is said about it, whichever way the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "--workspace", str(trained.workspace.root),
         *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert process.stdout is not None
    process.stdout.close()  # before the command writes its first line
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    assert b"error" not in err.lower() and b"Traceback" not in err


@pytest.mark.parametrize(("argv", "status"), [
    (["validate", str(Path(__file__).resolve().parent / "corpus" / "bad_values.jsonl")], 2),
    (["models", "--card", "99"], 2),
    (["predict", "/nonexistent/proposals.csv"], 3),
    (["predict", "--format", "bogus"], 2),
    (["predict", str(SAMPLE / "new_proposals.csv"), "--format", "xlsx"], 2),
], ids=["bad-file", "unknown-version", "no-champion", "usage", "options-together"])
def test_a_failure_keeps_its_status_when_the_reader_of_errors_stops_early(
        argv: list[str], status: int, tmp_path: Path) -> None:
    """`partnerscore ... 2>&1 >/dev/null | head -1`: the failure's status, not 1 (a defect)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "--workspace", str(tmp_path / "ws"), *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"})
    assert process.stderr is not None
    process.stderr.close()  # before the command writes its first line
    assert process.wait(timeout=300) == status


@pytest.mark.parametrize(("argv", "status"), [
    (["validate", str(SAMPLE / "history.csv"), "--labelled"], 0),
    (["validate", str(Path(__file__).resolve().parent / "corpus" / "bad_values.jsonl")], 2),
], ids=["success", "bad-file"])
def test_a_command_run_with_standard_error_closed_keeps_its_status(
        argv: list[str], status: int) -> None:
    """`partnerscore ... 2>&-`: Python has no sys.stderr at all; still 0 or 2, never 1."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "pipelines.cli", *argv])
    result = subprocess.run(["sh", "-c", f"exec {command} 2>&- >/dev/null"], timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    assert result.returncode == status


def test_validate_summarises_in_words_or_as_json(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    frame = pd.read_csv(SAMPLE / "history.csv")
    frame = frame[frame["trial_period"].isin(["2025-01", "2025-02"])].copy()
    frame["team_note"] = "ok"
    frame.loc[frame.index[:5], "strategy_fit"] = None
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    positives = int(frame["real_impact"].astype(str).str.lower().eq("true").sum())
    status, out, _ = _run(["validate", str(path), "--labelled"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (f"{path}: valid. {len(frame)} labelled proposals over 2 periods, "
                        f"{positives} with real impact ({positives / len(frame):.1%}).")
    assert [line.split() for line in lines[2:4]] == [
        [p, str(n), str(k)] for p, (n, k) in frame.groupby("trial_period")["real_impact"].agg(
            lambda s: (len(s), int(s.astype(str).str.lower().eq("true").sum()))).items()]
    gaps = int(frame["strategy_fit"].isna().sum())
    assert gaps >= 5 and f"strategy_fit {gaps} ({gaps / len(frame):.0%})" in out
    assert "outside the contract" in out and "team_note" in out
    status, out, _ = _run(["validate", str(path), "--labelled", "--format", "json"], capsys)
    document = json.loads(out)  # nothing but the document on standard output
    assert status == 0 and document["valid"] is True and document["rows"] == len(frame)
    assert document["missing"]["strategy_fit"] == gaps
    assert [p["positives"] for p in document["periods"]] == [int(x.split()[2]) for x in lines[2:4]]
    status, out, _ = _run(["validate", str(path)], capsys)  # as proposals: counts still shown
    assert status == 0 and out.splitlines()[1].split() == ["period", "proposals", "with", "real",
                                                           "impact"]

"""The malformed-input corpus through the real CLI: exit status 2, one report naming every
problem by row and column, and nothing written.

`tests/corpus/cases.json` describes each case: its file (committed in tests/corpus, or
built by `corpus.generated` when `build` is true), the command (`predict`, run with
`--format csv --output OUT` against the trained workspace; `validate`; or
`validate --labelled`), extra arguments and environment, the (row, column) of every
problem expected, in report order, and fragments the printed report must contain.
Every case runs in-process through `pipelines.cli.app.main`; those marked `subprocess`
also run as a real `partnerscore` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Trained
from corpus.generated import BUILDERS
from rich.console import Console

from model.validation import ContractError
from pipelines.cli.app import main

CORPUS = Path(__file__).resolve().parent / "corpus"
CONTROLS = ("valid.csv", "valid_labelled.csv")
Place = tuple[int | None, str | None]


@dataclass(frozen=True)
class Case:
    """One malformed input and what the CLI must say about it."""

    file: str
    command: str
    problems: list[Place]
    messages: list[str]
    covers: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    build: bool = False
    subprocess: bool = False

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Case:
        """A case from its cases.json entry."""
        places = [(row, column) for row, column in item.pop("problems")]
        return cls(problems=places, **item)

    def materialise(self, directory: Path) -> Path:
        """The input file, copied or built into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.file
        path.write_bytes(BUILDERS[self.file]() if self.build else (CORPUS / self.file).read_bytes())
        return path


CASES = [Case.from_json(item) for item in json.loads((CORPUS / "cases.json").read_text("utf-8"))]
SUBPROCESS_CASES = [case for case in CASES if case.subprocess]


def _argv(case: Case, path: Path | str, workspace: Path | None, output: Path) -> list[str]:
    if case.command == "predict":
        assert workspace is not None
        return ["--workspace", str(workspace), "predict", str(path), "--format", "csv",
                "--output", str(output), *case.args]
    return ["validate", str(path), *case.command.split()[1:], *case.args]


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[ContractError]:
    """Every ContractError the CLI reports, printed on a console wide enough not to fold."""
    import pipelines.cli.console as console

    seen: list[ContractError] = []
    original = console.contract_report

    def record(error: ContractError) -> None:
        seen.append(error)
        original(error)

    monkeypatch.setattr(console, "contract_report", record)
    monkeypatch.setattr(console, "err", Console(stderr=True, highlight=False, width=400))
    return seen


def _exit_status(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
        raise SystemExit(0)
    return stop.value.code


def _workspace(case: Case, request: pytest.FixtureRequest) -> Path | None:
    if case.command != "predict":
        return None
    trained: Trained = request.getfixturevalue("trained")
    return trained.workspace.root


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- the corpus, in-process ----------------------------------------------------------


def test_the_corpus_is_large_small_and_fully_described() -> None:
    described = {case.file for case in CASES}
    committed = {p.name for p in CORPUS.iterdir() if p.suffix in (".csv", ".txt", ".json", ".jsonl")}
    assert len(CASES) >= 40 and len(described) == len(CASES)
    assert committed - described - {"cases.json"} == set(CONTROLS)
    assert {case.file for case in CASES if case.build} == set(BUILDERS)
    assert all((CORPUS / case.file).is_file() for case in CASES if not case.build)
    assert sum(p.stat().st_size for p in CORPUS.iterdir() if p.is_file()) < 1_000_000


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_malformed_input_gives_one_report_and_status_2(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest, reports: list[ContractError],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    path = case.materialise(tmp_path / "in")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status = _exit_status(_argv(case, path, _workspace(case, request), out_dir / "scores.csv"))
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert len(reports) == 1
    [error] = reports
    assert [(p.row, p.column) for p in error.problems] == case.problems, str(error)
    assert error.source == str(path)
    for fragment in case.messages:
        assert fragment in captured.err
    assert captured.err.count("Nothing was written") == 1
    assert captured.out == ""
    assert _files(out_dir) == []  # no output, no empty file, no temporary file
    assert _files(tmp_path / "in") == [case.file]


# --- valid controls and extra columns ------------------------------------------------


def _scores(workspace: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    assert _exit_status(["--workspace", str(workspace), "predict", str(path),
                         "--format", "json"]) in (0, None)
    doc = json.loads(capsys.readouterr().out)
    return {p["proposal_id"]: p["impact_probability"] for p in doc["proposals"]}


def test_the_base_rows_of_the_corpus_are_valid(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The corpus files break only what they mean to: their base rows pass."""
    out = tmp_path / "scores.csv"
    argv = ["--workspace", str(trained.workspace.root), "predict", str(CORPUS / "valid.csv"),
            "--format", "csv", "--output", str(out)]
    assert _exit_status(argv) in (0, None)
    assert out.read_text().count("\n") == 4
    assert _exit_status(["validate", str(CORPUS / "valid_labelled.csv"), "--labelled"]) in (0, None)
    assert f"{CORPUS / 'valid_labelled.csv'}: valid. 3 labelled proposals" in capsys.readouterr().out


def test_extra_columns_are_not_an_error_and_are_ignored(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (CORPUS / "valid.csv").read_text().splitlines()
    extra = [f"{line},{fill}" for line, fill in
             zip(lines, ['notes,Owner ,"Budget (€)",', *['=HYPERLINK(""x""),ana,12,'] * 3], strict=True)]
    path = tmp_path / "extra.csv"
    path.write_text("\n".join(extra) + "\n")
    workspace = trained.workspace.root
    assert _scores(workspace, path, capsys) == _scores(workspace, CORPUS / "valid.csv", capsys)
    assert _exit_status(["validate", str(path)]) in (0, None)
    assert "valid. 3 proposals." in capsys.readouterr().out


@pytest.mark.parametrize("last", ['"two\nlines"', '"two\r\nlines ""quoted"""', '"ends with a newline\n"'])
def test_multiline_cells_are_not_taken_for_unclosed_quotes(
    last: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (CORPUS / "valid.csv").read_text().splitlines()
    path = tmp_path / "multiline.csv"
    path.write_text("\n".join([lines[0] + ",description", *[f"{line},{last}" for line in lines[1:]]]))
    assert _exit_status(["validate", str(path)]) in (0, None)
    assert "valid. 3 proposals." in capsys.readouterr().out


# --- the same cases through a real process -------------------------------------------


def _cli(argv: list[str], env: dict[str, str] | None = None, stdin: Any = None,
         wrapper: str | None = None) -> subprocess.CompletedProcess[str]:
    """`partnerscore ARGV` in a fresh interpreter, on a wide terminal."""
    environment = {**os.environ, "COLUMNS": "300", **(env or {})}
    command = [sys.executable, "-c", wrapper, *argv] if wrapper else [
        sys.executable, "-m", "pipelines.cli", *argv]
    return subprocess.run(command, env=environment, stdin=stdin, capture_output=True, text=True,
                          timeout=300, check=False)


def _table_places(report: str) -> list[Place]:
    """(row, column) of each problem of the printed problem table (a long "expected" text
    folds onto lines of its own, whose other cells are empty: every problem shows what
    was found, "(empty)" at least)."""
    places: list[Place] = []
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0] != "row" and cells[2]:
            places.append((int(cells[0]) if cells[0] else None, cells[1] or None))
    return places


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[case.file for case in SUBPROCESS_CASES])
def test_malformed_input_through_a_real_process(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = case.materialise(tmp_path / "in")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = _cli(_argv(case, path, _workspace(case, request), out_dir / "scores.csv"), case.env)
    assert result.returncode == 2, result.stderr
    count = len(case.problems)
    assert result.stderr.count(f"{count} problem{'s' if count != 1 else ''}") == 1
    assert _table_places(result.stderr) == case.problems
    assert all(fragment in result.stderr for fragment in case.messages)
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert result.stdout == ""
    assert _files(out_dir) == []


def test_bad_json_on_standard_input(trained: Trained, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.file == "nested_values.json")
    with (CORPUS / case.file).open("rb") as stdin:
        result = _cli(["--workspace", str(trained.workspace.root), "predict", "-",
                       "--format", "csv", "--output", str(tmp_path / "scores.csv")], stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert "<stdin>: 3 problems" in result.stderr
    assert _table_places(result.stderr) == case.problems
    assert _files(tmp_path) == []


@pytest.mark.parametrize("limit", ["abc", "0", "-5", "1.5"])
def test_a_malformed_size_limit_is_a_configuration_error(
    limit: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARTNERSCORE_MAX_INPUT_BYTES", limit)
    assert _exit_status(["validate", str(CORPUS / "valid.csv")]) == 2
    assert "PARTNERSCORE_MAX_INPUT_BYTES: expected a positive whole number" in capsys.readouterr().err


# --- a 100 MB input: refused early, in bounded memory and time -----------------------

PEAK_MEMORY = """
import resource, sys
from pipelines.cli.app import main
try:
    main(sys.argv[2:])
    status = 0
except SystemExit as stop:
    status = stop.code
with open(sys.argv[1], "w") as handle:
    handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(status)
"""
LIMIT = 10_000_000


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Path]:
    """A 100 MB proposals CSV, removed after the test (pytest keeps recent tmp_paths)."""
    path = tmp_path / "big.csv"
    row = b"p,Acme,referral,hr_tech,adjacent,upstream,yes,yes,no,0.5,120\n"
    block = row * (1_000_000 // len(row))
    with path.open("wb") as handle:
        handle.write(b"proposal_id,partner_name,partnership_type,partner_sector,sector_proximity,"
                     b"lifecycle_position,has_clear_objective,has_action_plan,product_ready,"
                     b"partner_committed_fte,partner_headcount\n")
        while handle.tell() < 100_000_000:
            handle.write(block)
    yield path
    path.unlink()


def _peak_kib(
    argv: list[str], tmp_path: Path, **kwargs: Any
) -> tuple[subprocess.CompletedProcess[str], int, float]:
    """Run the CLI in a child that records its own peak resident memory (KiB on Linux)."""
    descriptor, name = tempfile.mkstemp(dir=tmp_path, suffix=".peak")
    os.close(descriptor)
    record = Path(name)
    started = time.perf_counter()
    result = _cli([str(record), *argv], env={"PARTNERSCORE_MAX_INPUT_BYTES": str(LIMIT)},
                  wrapper=PEAK_MEMORY, **kwargs)
    return result, int(record.read_text()), time.perf_counter() - started


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_a_100_mb_file_is_refused_in_bounded_memory_and_time(
    trained: Trained, big: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def predict(source: str, output: Path = out_dir / "scores.csv") -> list[str]:
        return ["--workspace", str(trained.workspace.root), "predict", source, "--format", "csv",
                "--output", str(output)]

    scored, baseline, _ = _peak_kib(predict(str(CORPUS / "valid.csv"), tmp_path / "ok.csv"), tmp_path)
    assert scored.returncode == 0, scored.stderr
    refused, peak, seconds = _peak_kib(predict(str(big)), tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert f"at most {LIMIT:,} bytes" in refused.stderr and "PARTNERSCORE_MAX_INPUT_BYTES" in refused.stderr
    assert f"{big.stat().st_size:,} bytes" in refused.stderr
    assert peak < baseline + 20_000, (peak, baseline)  # the file is never read
    assert seconds < 60
    with big.open("rb") as stdin:  # standard input is read no further than the limit
        piped, peak, seconds = _peak_kib(predict("-"), tmp_path, stdin=stdin)
    assert piped.returncode == 2, piped.stderr
    assert f"more than {LIMIT:,} bytes" in piped.stderr
    assert peak < baseline + 20_000 + 2 * LIMIT // 1024, (peak, baseline)
    assert seconds < 60
    assert _files(out_dir) == []

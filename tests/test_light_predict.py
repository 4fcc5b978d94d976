"""Scoring from the exported champion stays light: no scikit-learn, MLflow, shap or matplotlib.

Each case runs in a fresh interpreter, scores the sample proposals through the real
command, and reports which heavy packages ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, Trained

HEAVY = ("sklearn", "mlflow", "shap", "matplotlib", "numba", "scipy", "pyspark")

PROBE = """
import contextlib, io, json, sys
from pipelines.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit as exit:
        status = exit.code
    else:
        status = 0
heavy = sorted({name.split('.')[0] for name in sys.modules} & set(json.loads(HEAVY)))
print(json.dumps({"status": status, "heavy": heavy}))
"""


def _loaded_after(argv: list[str]) -> dict[str, object]:
    code = PROBE.replace("json.loads(HEAVY)", repr(list(HEAVY)))
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                            timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("output_format", ["table", "json", "jsonl", "csv", "xlsx"])
def test_scoring_from_the_champion_imports_no_heavy_package(trained: Trained, tmp_path: Path,
                                                            output_format: str) -> None:
    argv = ["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
            "--format", output_format, "--output", str(tmp_path / f"scores.{output_format}")]
    if output_format == "table":
        argv = argv[:-2]
    loaded = _loaded_after(argv)
    assert loaded == {"status": 0, "heavy": []}


def test_the_probe_sees_heavy_imports_when_they_happen(trained: Trained) -> None:
    """The same probe reports MLflow once a command does need it (so an empty list means something)."""
    loaded = _loaded_after(["--workspace", str(trained.workspace.root), "models"])
    assert loaded["status"] == 0 and "mlflow" in loaded["heavy"]  # type: ignore[operator]

"""REST scoring: `mlflow models serve` on the registered champion answers like `partnerscore predict`.

Also home to the helpers that start and stop servers on loopback for the team-mode tests.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import SAMPLE, Trained

from model.config import Config
from pipelines.tracking.serving import request_frame

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent
TOLERANCE = 1e-9


def venv_program(name: str) -> Path:
    """A program of the test's virtual environment; fails the test when it is missing."""
    program = VENV_BIN / name
    if not program.exists():
        pytest.fail(f"{program} not found: run make install")
    return program


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without MLflow or partnerscore settings, plus `extra`.

    A subprocess then uses exactly the tracking and registry URIs a test gives it, not
    ones another test left behind.
    """
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PARTNERSCORE_"))}
    return {**kept, "OMP_NUM_THREADS": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **extra}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; fail with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a process started with start_new_session=True and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # whatever is left of the group (workers may outlive their parent) is killed
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


def json_cell(value: Any) -> Any:
    """A request cell as JSON: null for missing, booleans as booleans, numbers as numbers."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def split_payload(request: pd.DataFrame) -> bytes:
    """The `dataframe_split` body MLflow's scoring server takes."""
    rows = [[json_cell(v) for v in row] for row in request.itertuples(index=False)]
    body = {"dataframe_split": {"columns": [str(c) for c in request.columns], "data": rows}}
    return json.dumps(body, allow_nan=False).encode("utf-8")


def post_json(url: str, body: bytes, timeout: float = 60) -> Any:
    """POST a JSON body and decode the JSON answer."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def assert_same(got: Any, expected: Any, where: str = "") -> None:
    """Equal structures, numbers to 1e-9 (JSON may write 608.0 as 608), booleans exactly."""
    if isinstance(expected, bool) or isinstance(got, bool):
        assert got is expected, where
    elif isinstance(expected, (int, float)) and expected is not None:
        assert isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=0,
                                                             abs_tol=TOLERANCE), where
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]")
    else:
        assert got == expected, where


@pytest.fixture(scope="module")
def model_server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve` on the trained workspace's registered champion, on loopback.

    The version is named (the champion the fixture trained) rather than `@champion`, so
    that the comparison holds whatever other tests do to registries.
    """
    mlflow = venv_program("mlflow")
    port, directory = free_port(), tmp_path_factory.mktemp("serve")
    log = directory / "serve.log"
    registry = f"sqlite:///{trained.workspace.mlflow_db}"
    env = clean_env(PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                    MLFLOW_TRACKING_URI=registry, MLFLOW_REGISTRY_URI=registry)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(mlflow), "models", "serve", "-m", f"models:/partnerscore/{trained.outcome.version}",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            env=env, cwd=directory, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log, timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


def test_rest_scores_equal_partnerscore_predict(model_server: str, trained: Trained, config: Config,
                                                new_proposals: pd.DataFrame) -> None:
    """Same records as `partnerscore predict --format json`: ids, probabilities to 1e-9, scores,
    grades, ranks, contributions, reasons and flags."""
    answer = post_json(f"{model_server}/invocations", split_payload(request_frame(new_proposals, config)))
    done = subprocess.run([str(venv_program("partnerscore")), "--workspace", str(trained.workspace.root),
                           "predict", str(SAMPLE / "new_proposals.csv"), "--format", "json"],
                          capture_output=True, check=True, env=clean_env())
    expected = json.loads(done.stdout)["proposals"]
    records = answer["predictions"]
    assert len(records) == len(new_proposals) == len(expected)
    assert [r["proposal_id"] for r in records] == new_proposals["proposal_id"].tolist()
    assert {"proposal_id", "impact_probability", "impact_interval", "score", "grade", "reasons_for",
            "reasons_against"} <= set(records[0])
    assert_same(records, expected, "predictions")
    for record in records:
        low, high = record["impact_interval"]
        assert low <= record["impact_probability"] <= high


def test_rest_request_with_missing_values_and_booleans(model_server: str, trained: Trained,
                                                       config: Config, new_proposals: pd.DataFrame) -> None:
    """Missing optional values travel as null and booleans as JSON booleans; one proposal alone
    gets the in-process record (rank 1 of 1)."""
    from pipelines.jobs.predict import score_batch
    from pipelines.storage.bundle import load_bundle

    proposals = new_proposals.head(1).copy()
    proposals[["partner_committed_fte", "inbound"]] = float("nan")  # validated frames hold NaN
    body = split_payload(request_frame(proposals, config))
    assert b'"inbound"' in body and b"null" in body and (b"true" in body or b"false" in body)
    record = post_json(f"{model_server}/invocations", body)["predictions"][0]
    expected = score_batch(load_bundle(trained.workspace.champion), proposals).proposals[0].to_json()
    assert record["rank"] == 1
    assert_same(record, json.loads(json.dumps(expected)), "prediction")


def test_rest_bad_proposal_is_refused_with_the_reason(model_server: str, config: Config,
                                                      new_proposals: pd.DataFrame) -> None:
    """A value outside the contract gets an error answer naming the column, not a score."""
    request = request_frame(new_proposals.head(2), config)
    request.loc[1, "partnership_type"] = "space_elevator"
    with pytest.raises(urllib.error.HTTPError) as refused:
        post_json(f"{model_server}/invocations", split_payload(request))
    assert 400 <= refused.value.code < 600
    assert "partnership_type" in refused.value.read().decode("utf-8", "replace")

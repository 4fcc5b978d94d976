"""Batch scoring on Spark (local mode) gives the in-process numbers, ranks and reasons."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Trained

from model.config import Config
from model.simulate import simulate_proposals
from model.validation import ContractError, validate_frame
from pipelines.jobs.predict import score_batch
from pipelines.report.formats import COLUMNS, flat_rows
from pipelines.storage.bundle import load_bundle
from pipelines.tracking.serving import request_frame

pytestmark = pytest.mark.slow
ROWS = 3000


def _simulated(config: Config, rows: int) -> pd.DataFrame:
    """Validated simulated proposals, some without a partner name and one named 'None'."""
    raw = simulate_proposals(rows, seed=11).astype(object)
    raw = raw.map(lambda v: None if v is None or pd.isna(v)
                  else ("true" if v is True else "false" if v is False else str(v)))
    raw["proposal_id"] = [f"S{i:05d}" for i in range(len(raw))]
    raw.loc[raw.index[:7], "partner_name"] = None
    raw.loc[raw.index[7], "partner_name"] = "None"
    raw.index = pd.RangeIndex(2, len(raw) + 2, name="row")
    return validate_frame(raw, config, labelled=False)


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    """One local Spark session for the module (score_parquet uses the active one).

    PySpark and Java are required: when missing, this fails rather than skips.
    """
    if shutil.which("java") is None:
        pytest.fail("java not found: run deploy/system-deps.sh")
    from pipelines.tracking.spark import session

    active, owned = session("local[2]")
    yield active
    if owned:
        active.stop()


def test_spark_scores_equal_in_process_scores(spark: object, trained: Trained, config: Config,
                                              tmp_path: Path) -> None:
    """3,000 proposals through spark_udf in local mode: the CSV columns, same numbers to 1e-9,
    same ranks over the whole table, same grades, reasons, flags and names."""
    from pipelines.tracking.spark import score_parquet

    proposals = _simulated(config, ROWS)
    table = tmp_path / "proposals.parquet"
    request_frame(proposals, config).to_parquet(table, index=False)
    output = tmp_path / "scored"
    output.mkdir()
    (output / "stale.parquet").write_bytes(b"replaced by the new output")

    count = score_parquet(f"models:/partnerscore/{trained.outcome.version}", table, output,
                          master="local[2]", tracking_uri=f"sqlite:///{trained.workspace.mlflow_db}")

    assert count == ROWS
    assert not (output / "stale.parquet").exists()
    got = pd.read_parquet(output).sort_values("rank").reset_index(drop=True)
    expected = pd.DataFrame(flat_rows(score_batch(load_bundle(trained.workspace.champion), proposals)))
    assert list(got.columns) == list(COLUMNS)
    assert got["rank"].tolist() == list(range(1, ROWS + 1))
    assert got["proposal_id"].tolist() == expected["proposal_id"].tolist()
    for column in ("impact_probability", "impact_low", "impact_high"):
        np.testing.assert_allclose(got[column], expected[column].astype(float), rtol=0, atol=1e-9)
    assert (got["impact_low"] <= got["impact_probability"]).all()
    assert (got["impact_probability"] <= got["impact_high"]).all()
    assert got["provisional"].tolist() == expected["provisional"].tolist()
    for column in ("score", "grade", "grade_low", "grade_high", "reasons_for", "reasons_against", "flags"):
        assert got[column].tolist() == expected[column].tolist(), column
    names = [None if pd.isna(v) else v for v in got["partner_name"]]
    assert names == [None if pd.isna(v) else v for v in expected["partner_name"]]
    assert names.count(None) == 7 and "None" in names


def test_missing_required_column_is_reported_before_scoring(spark: object, trained: Trained,
                                                             config: Config, tmp_path: Path) -> None:
    """A table without a required column is bad input (exit status 2), named column by column."""
    from pipelines.tracking.spark import score_parquet

    table = tmp_path / "partial.parquet"
    request_frame(_simulated(config, 20), config).drop(columns=["partner_sector", "product_ready"]) \
        .to_parquet(table, index=False)
    with pytest.raises(ContractError) as error:
        score_parquet(f"models:/partnerscore/{trained.outcome.version}", table, tmp_path / "out",
                      tracking_uri=f"sqlite:///{trained.workspace.mlflow_db}")
    assert {p.column for p in error.value.problems} == {"partner_sector", "product_ready"}
    assert not (tmp_path / "out").exists()

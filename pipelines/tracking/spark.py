"""Batch scoring on Spark: a Parquet table of proposals in, the ranked CSV columns out as Parquet.

The registered model runs inside Spark through `mlflow.pyfunc.spark_udf`, so the
numbers are those of `partnerscore predict` and of the REST endpoint; only the
ranks are recomputed here, over the whole table instead of per Arrow batch. The
input holds typed proposals as `pipelines.tracking.serving.request_frame` makes them (the
model's signature: text, numbers, true/false or null); integer columns are widened
to the signature's doubles. PySpark is the optional extra `partnerscore[spark]`:
only this module imports it. Run locally with `master="local[2]"` or against a
cluster (`spark://host:7077`) whose executors have partnerscore installed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.config import ScoringSettings, TrackingSettings
from model.validation import ContractError, Problem, cell_text
from model.wording import flag_text, reason_text
from pipelines.report.formats import COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_WHOLE = re.compile(r"-?\d+\.0")
# What the UDF returns per proposal: the fields the CSV output is made of. Reason and
# flag values are declared as text (flag_text prints them as text); `rank` is left out
# because the model ranks within each batch it sees.
RESULT_TYPE = (
    "proposal_id string, partner_name string, impact_probability double, "
    "impact_interval array<double>, score long, "
    "grade string, reasons_for array<struct<label: string, points: double>>, "
    "reasons_against array<struct<label: string, points: double>>, "
    "flags array<struct<feature: string, kind: string, value: string>>"
)
OUTPUT_SCHEMA = ("rank long, proposal_id string, partner_name string, impact_probability double, "
                 "impact_low double, impact_high double, score long, grade string, "
                 "grade_low string, grade_high string, reasons_for string, "
                 "reasons_against string, flags string, provisional boolean")
_ROW, _RAW_NAME, _RESULT = "_partnerscore_row", "_partnerscore_raw_name", "_partnerscore_result"


def score_parquet(model_uri: str, input_path: Path, output_path: Path, master: str = "local[2]", *,
                  tracking_uri: str | None = None, tracking: TrackingSettings | None = None) -> int:
    """Score every proposal of a Parquet table on Spark and write the ranked rows as Parquet.

    The output directory holds the columns of `partnerscore predict --format csv`
    (`pipelines.report.formats.COLUMNS`), best first, ranked over the whole table (ties in
    the order Spark reads the input); it replaces `output_path` only once complete.

    Args:
        model_uri: `models:/partnerscore@champion`, `models:/partnerscore/3` or `runs:/...`.
        input_path: a Parquet file or directory of proposals.
        output_path: the Parquet directory to write.
        master: the Spark master when no session is active: `local[N]` or a cluster URL.
        tracking_uri: the registry to fetch the model from (default: MLflow's current URI).
        tracking: bounds on the waits for a tracking server (default: the shipped settings).

    Returns:
        The number of proposals scored.

    Raises:
        ContractError: when the table is missing or lacks a column the model requires.
        BundleError: when the registry has no such model.
    """
    import mlflow

    from pipelines.storage.bundle import load_bundle
    from pipelines.tracking.gateway import Gateway

    if not input_path.exists():
        raise ContractError([Problem(None, None, str(input_path), "a Parquet file or directory")])
    uri = tracking_uri or mlflow.get_tracking_uri()
    with tempfile.TemporaryDirectory(prefix="partnerscore-spark-") as tmp:
        bundle_dir = Gateway.reader(uri, tracking).download_bundle(
            model_uri, Path(tmp))
        bundle = load_bundle(bundle_dir)  # verified before Spark loads it
        config, provisional = bundle.config, bundle.training.provisional
        model_dir = bundle_dir.parent.parent
        spark, owned = session(master)
        staging = output_path.parent / f".{output_path.name}.spark.tmp"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            proposals = _model_input(spark.read.parquet(str(input_path)), model_dir, str(input_path))
            scored = _scored(spark, proposals, model_dir, config.roles.get("name"))
            count = scored.count()
            _ranked(spark, scored, provisional, config.scoring).write.parquet(str(staging))
            scored.unpersist()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            if owned:
                spark.stop()
        _publish(staging, output_path)
    return count


def session(master: str) -> tuple[SparkSession, bool]:
    """The active session, or a new one (returned with True: the caller stops it)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = (SparkSession.builder.master(master).appName("partnerscore-score")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.log.level", "ERROR"))
    if master.startswith("local"):
        # Local mode: Spark listens on loopback only, and its Python workers run in
        # this interpreter's environment, where partnerscore is installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read by PySpark, not its conf
        builder = (builder.config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "4"))
    return builder.getOrCreate(), True


def _model_input(table: DataFrame, model_dir: Path, source: str) -> DataFrame:
    """The signature's columns present in the table, integers widened to doubles; a
    missing required column is reported before any work starts."""
    from mlflow.models import Model
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    schema = Model.load(str(model_dir / "MLmodel")).get_input_schema()
    assert schema is not None, "the registered model has an input signature"
    present = {name.lower(): name for name in table.columns}
    missing = [name for name in schema.required_input_names() if str(name).lower() not in present]
    if missing:
        raise ContractError([Problem(None, str(name), "", "a column of the Parquet table")
                             for name in missing], source=source)
    types = {spec.name: str(spec.type) for spec in schema.inputs}
    columns = []
    for name in schema.input_names():
        if str(name).lower() not in present:
            continue
        column = F.col(present[str(name).lower()])
        if types.get(name) == "double" and isinstance(table.schema[present[str(name).lower()]].dataType,
                                                      NumericType):
            column = column.cast("double")
        columns.append(column.alias(str(name)))
    return table.select(F.monotonically_increasing_id().alias(_ROW), *columns)


def _scored(spark: SparkSession, proposals: DataFrame, model_dir: Path,
            name_column: str | None) -> DataFrame:
    """One struct of model output per proposal, kept in memory for ranking and writing."""
    import mlflow
    from pyspark.sql import functions as F

    inputs = [c for c in proposals.columns if c != _ROW]
    # The executors run partnerscore's own environment ("local"); MLflow warns about that choice.
    with _quiet("mlflow.pyfunc"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        predict = mlflow.pyfunc.spark_udf(spark, str(model_dir), result_type=RESULT_TYPE,
                                          env_manager="local",
                                          extra_env={"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"})
    raw_name = F.col(name_column) if name_column in inputs else F.lit(None).cast("string")
    return proposals.select(F.col(_ROW), raw_name.alias(_RAW_NAME),
                            predict(F.struct(*inputs)).alias(_RESULT)).persist()


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only errors from `logger` for the duration."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _ranked(spark: SparkSession, scored: DataFrame, provisional: bool,
            scoring: ScoringSettings) -> DataFrame:
    """Best first over the whole table, ties in input order, as the CSV output's rows."""
    from pyspark.sql import functions as F

    ordered = scored.orderBy(F.col(f"{_RESULT}.impact_probability").desc(), F.col(_ROW).asc())
    rows = ordered.rdd.zipWithIndex().map(functools.partial(flat_row, provisional=provisional,
                                                            scoring=scoring))
    return spark.createDataFrame(rows, OUTPUT_SCHEMA)


def flat_row(pair: tuple[Any, int], provisional: bool = False,
             scoring: ScoringSettings | None = None) -> tuple[Any, ...]:
    """One output row, in `pipelines.report.formats.COLUMNS` order, from (scored row, position).

    MLflow converts a struct's text field with numpy, which turns a missing partner
    name into the text 'nan'; the name is missing exactly where the contract reads
    the input cell as empty, so that is where it is restored to null.
    """
    row, position = pair
    result = row[_RESULT].asDict(recursive=True)
    name = result["partner_name"] if cell_text(row[_RAW_NAME]) is not None else None
    low, high = result.get("impact_interval") or (None, None)
    # the grades of the interval's ends, from the model's own cut-offs: a registered model
    # answers with the fields its own code knows, which may predate grade_interval
    grades = (scoring or ScoringSettings()).grade_interval(
        None if low is None or high is None else (float(low), float(high)))
    grade_low, grade_high = grades or (None, None)
    values = {**result, "rank": position + 1, "partner_name": name, "impact_low": low,
              "impact_high": high, "grade_low": grade_low, "grade_high": grade_high,
              "provisional": provisional,
              "reasons_for": reason_text(result["reasons_for"] or []),
              "reasons_against": reason_text(result["reasons_against"] or []),
              "flags": flag_text([_whole(f) for f in result["flags"] or []])}
    return tuple(values[column] for column in COLUMNS)


def _whole(flag: dict[str, Any]) -> dict[str, Any]:
    """A flag as scored in process: the struct carries values as text, so a number out of
    range that is whole arrives as '6.0' where `flag_text` prints 6 (a new category's
    value is text as the file wrote it, and stays so)."""
    value = flag.get("value")
    if isinstance(value, str) and _WHOLE.fullmatch(value) and flag.get("kind") != "novel_category":
        return {**flag, "value": value[:-2]}
    return flag


def _publish(staging: Path, output_path: Path) -> None:
    """Put the finished directory in place of `output_path`, removing what was there."""
    previous = output_path.parent / f".{output_path.name}.old.tmp"
    shutil.rmtree(previous, ignore_errors=True)
    if output_path.is_dir() and not output_path.is_symlink():
        output_path.rename(previous)
    elif output_path.exists() or output_path.is_symlink():
        output_path.unlink()
    staging.rename(output_path)
    shutil.rmtree(previous, ignore_errors=True)

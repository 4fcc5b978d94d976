"""Command implementations: each parses nothing, calls the typed job, and presents its result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from model.config import Config
from model.validation import ContractError, Problem
from pipelines.documents import json_default
from pipelines.settings import Workspace
from pipelines.storage.atomic import check_writable, write_output
from pipelines.tracking import RegistrySettings


def usage_error(message: str) -> NoReturn:
    """Options that do not go together: a usage error (status 2), said in one line."""
    import click

    raise click.UsageError(message)


def validate_command(file: str, config: Config, *, labelled: bool, sheet: str | None,
                     output_format: str) -> None:
    """`partnerscore validate`: the file's summary, or its problems (status 2)."""
    from model.validation import summarise
    from pipelines.cli.console import write_stdout
    from pipelines.storage.readers import load_proposals

    frame = load_proposals(file, config, labelled=labelled, sheet=sheet)
    summary = summarise(frame, config)
    if output_format == "json":
        write_stdout(json.dumps({"file": file, "valid": True, **summary}, indent=2) + "\n")
        return
    known = {c.name for c in config.columns}
    extra = [str(c) for c in frame.columns if c not in known]
    write_stdout("\n".join(summary_lines(file, summary, labelled, extra)) + "\n")


def summary_lines(file: str, summary: dict[str, Any], labelled: bool,
                  extra: list[str]) -> list[str]:
    """A valid file's summary in words: its rows and outcomes, periods, gaps and extra columns."""
    rows, periods = summary["rows"], summary["periods"]
    what = "labelled proposals" if labelled else "proposals"
    head = f"{file}: valid. {rows} {what}"
    if periods:
        head += f" over {len(periods)} period{'s' * (len(periods) != 1)}"
    if summary["positive_rate"] is not None:
        positives = sum(p.get("positives", 0) for p in periods) if periods else round(
            summary["positive_rate"] * rows)
        head += f", {positives} with real impact ({summary['positive_rate']:.1%})"
    lines = [head + "."]
    if periods:
        width = max(len("period"), *(len(p["period"]) for p in periods))
        counted = "positives" in periods[0]
        lines.append(f"  {'period':<{width}}  proposals" + ("  with real impact" if counted else ""))
        for p in periods:
            line = f"  {p['period']:<{width}}  {p['rows']:>9}"
            lines.append(line + (f"  {p['positives']:>16}" if counted else ""))
    gaps = [(name, count) for name, count in summary["missing"].items() if count]
    if gaps:
        lines.append("Missing values: " + ", ".join(
            f"{name} {count} ({count / rows:.0%})" for name, count in gaps) + ".")
    else:
        lines.append("No missing values.")
    if extra:
        lines.append("Columns outside the contract, kept as they are and not used by the model: "
                     + ", ".join(extra) + ".")
    return lines


def write_simulation(out_file: Path, *, periods: int, per_period: int, seed: int,
                     drift: float) -> int:
    """Simulate a labelled history; writes FILE and FILE.truth.csv atomically."""
    from model.simulate import SimulationParams, simulate_history

    truth_file = Path(f"{out_file}.truth.csv")
    check_writable(out_file, truth_file)
    history, truth = simulate_history(SimulationParams(
        periods=periods, per_period=per_period, seed=seed, drift=drift))
    write_output(truth_file, csv_bytes(truth))  # first: a history never stands without its truth
    write_output(out_file, csv_bytes(history))
    return len(history)


def csv_bytes(frame: object) -> bytes:
    """A frame as CSV the data contract reads back: true/false, integers without '.0'."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool:
            out[column] = out[column].map({True: "true", False: "false"})
    return out.to_csv(index=False).encode("utf-8")


def load_training_data(workspace: Workspace, config: Config, files: list[Path]) -> tuple[object, str]:
    """Labelled proposals from the given files, else from the workspace's labelled store."""
    from pipelines.jobs.train import load_labelled

    if files:
        return load_labelled(files, config), ", ".join(str(f) for f in files)
    from pipelines.storage import store

    frame = store.read_all(workspace, config)
    if frame is None:
        raise ContractError([Problem(None, None, str(workspace.store),
                                     "labelled outcomes: pass --data FILE or ingest a period "
                                     "first (partnerscore ingest FILE)")], source="train")
    return frame, str(workspace.store)


def train_command(workspace: Workspace, config: Config, config_text: str, files: list[Path],
                  *, seed: int, output_format: str) -> None:
    """`partnerscore train`."""
    import pandas as pd

    from pipelines.cli.console import out, training_summary
    from pipelines.jobs.train import run_training

    proposals, source = load_training_data(workspace, config, files)
    assert isinstance(proposals, pd.DataFrame)
    from pipelines.cli.progress import training_progress

    with training_progress(show=output_format == "text") as progress:
        outcome = run_training(workspace, config, config_text, proposals, source, seed=seed,
                               progress=progress)
    if output_format == "json":
        document = {**outcome.training.to_json(), "registered": {
            "name": outcome.model_name, "version": outcome.version, "alias": outcome.alias,
            "run_id": outcome.run_id}}
        from pipelines.cli.console import write_stdout

        write_stdout(json.dumps(document, indent=2, default=json_default) + "\n")
    else:
        training_summary(outcome.training, outcome.version, outcome.alias, outcome.model_name,
                         config.model.comfortable_positives, config.model.interval_level)
        if outcome.alias != "champion":
            out.print("The champion is unchanged; compare and promote with the retraining "
                      "workflow (partnerscore models, partnerscore promote VERSION).")


def predict_command(workspace: Workspace, file: str | None, *, model: str | None,
                    output_format: str, output: Path | None, top: int | None,
                    settings: list[str], capacity: int | None, sheet: str | None,
                    engine: str = "local", spark_master: str = "local[2]",
                    registry: RegistrySettings | None = None) -> None:
    """`partnerscore predict`: validates everything before writing anything.

    `registry` names the team's registered model and bounds waits on its tracking
    server (for `--model models:/...` and the Spark engine); default: shipped settings.
    """
    registry = registry or RegistrySettings()
    from pipelines.jobs.predict import run_predict

    if engine == "spark":
        spark_predict(workspace, file, model=model, output=output, master=spark_master,
                      registry=registry)
        return
    if output_format == "xlsx" and output is None:
        usage_error("--format xlsx writes a file: name it with --output FILE.xlsx")
    batch, note = run_predict(workspace.champion, file, model=model, settings=settings, top=top,
                              capacity=capacity, sheet=sheet, tracking=registry.tracking)
    if output_format == "table":
        from pipelines.cli.console import ranked_table

        ranked_table(batch, note)
        return
    from pipelines.cli.console import err
    from pipelines.report.formats import RENDERERS, to_csv

    data = RENDERERS.get(output_format, to_csv)(batch)
    if output is None:
        from pipelines.cli.console import write_stdout

        write_stdout(data)
    else:
        write_output(output, data)
    err.print(f"Scored {len(batch.proposals)} proposals with {note}"
              + (f"; wrote {output}" if output else ""), markup=False)


def spark_predict(workspace: Workspace, file: str | None, *, model: str | None,
                  output: Path | None, master: str, registry: RegistrySettings) -> None:
    """`predict --engine spark`: a Parquet table scored on Spark, written as Parquet."""
    if file is None or output is None:
        usage_error("--engine spark scores a Parquet table: give its FILE and --output DIR")
    try:
        from pipelines.tracking.spark import score_parquet
    except ImportError as exc:
        raise ContractError([Problem(None, "--engine", "spark",
                                     "PySpark installed: pip install 'partnerscore[spark]'")]) from exc
    from pipelines.cli.console import err

    uri = model or f"models:/{registry.registered_name}@champion"
    rows = score_parquet(uri, Path(file), output, master=master,
                         tracking_uri=workspace.tracking_uri(), tracking=registry.tracking)
    err.print(f"Scored {rows} proposals on Spark ({master}) with {uri}; wrote {output}",
              markup=False)


def demo_command(workspace: Workspace, config: Config, config_text: str, history: Path,
                 proposals: Path) -> None:
    """Train on the sample history, register, then rank the sample proposals."""
    from pipelines.cli.console import out

    out.rule("1. Train on the sample history")
    train_command(workspace, config, config_text, [history], seed=0, output_format="text")
    out.rule("2. Score new proposals with the champion")
    predict_command(workspace, str(proposals), model=None, output_format="table", output=None,
                    top=3, settings=[], capacity=5, sheet=None)
    out.print(f"Workspace: {workspace.root} (MLflow: {workspace.tracking_uri()}). "
              f"Browse runs with: mlflow ui --backend-store-uri {workspace.tracking_uri()}",
              markup=False)

"""The `partnerscore` command: thin handlers that parse options and delegate to typed jobs.

Every command that reads data or the registry takes `--config`, before or after the
command name. Exit statuses (mapped in `pipelines.cli.exits`):

- 0 success (also when the reader of standard output stops early, as `| head` does).
- 1 unexpected failure, a defect (`PARTNERSCORE_DEBUG=1` shows the traceback); also a
  trained model whose explanations differ from shap's (nothing is registered).
- 2 bad input: a data file, the configuration, a command-line usage error (unknown
  command or option, a value of the wrong type, a missing argument), a version to
  promote, roll back to or show that the registry lacks, too little data to train, an
  output file or workspace that cannot be written there, or proposals `decide` has
  decided before (without `--again`).
- 3 a model or stored data that is missing, altered or untrusted: no exported champion,
  a `--model` the registry or disk lacks, a model bundle that fails its checks, a
  labelled store changed outside partnerscore.
- 4 `retrain` kept the champion (the gate failed).
- 69 the tracking server did not answer in time.
- 75 another job holds the workspace lock.
- 77 the tracking server denied permission.
- 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from model.config import Config
from pipelines.settings import Workspace, read_config

if TYPE_CHECKING:
    from pipelines.tracking import RegistrySettings

# Option values checked before a command runs: a wrong one is a usage error (status 2)
# that lists the choices, and `--help` shows them.
TextOrJson = Literal["text", "json"]
OutputFormat = Literal["table", "csv", "json", "jsonl", "xlsx"]
Engine = Literal["local", "spark"]

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Score partnership proposals by their probability of real impact, "
                       "with the reasons, from your trial periods' outcomes.")

WorkspaceOpt = Annotated[Path | None, typer.Option(
    "--workspace", help="Team workspace (default: $PARTNERSCORE_WORKSPACE or "
                        "./partnerscore-workspace).")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Configuration file (columns, labels, modelling options); default: "
                     "the one shipped with partnerscore.")]


class Context:
    """Options given before the command name."""

    workspace: Path | None = None
    config: Path | None = None


@app.callback()
def _main(workspace: WorkspaceOpt = None, config: ConfigOpt = None) -> None:
    Context.workspace, Context.config = workspace, config


def _workspace(option: Path | None) -> Workspace:
    return Workspace.resolve(option or Context.workspace)


def _config(option: Path | None) -> tuple[Config, str]:
    """The configuration given after the command, else before it, else the shipped one."""
    return read_config(option or Context.config)


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="File to check (CSV, XLSX, Parquet, JSON, JSONL; - for stdin).")],
    labelled: Annotated[bool, typer.Option("--labelled", help="Check as labelled outcomes.")] = False,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", help="text (a summary to read) or json (rows, periods, missing values per column, positive rate).")] = "text",
    config: ConfigOpt = None,
) -> None:
    """Check a file against the data contract and summarise it."""
    from pipelines.cli.commands import validate_command

    cfg, _ = _config(config)
    validate_command(file, cfg, labelled=labelled, sheet=sheet, output_format=output_format)


@app.command()
def simulate(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write (its truth beside it).")],
    periods: Annotated[int, typer.Option(min=1, help="Trial periods.")] = 12,
    per_period: Annotated[int, typer.Option(min=1, help="Proposals per period.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    drift: Annotated[float, typer.Option(min=0.0, max=1.0, help="Drift across periods, 0-1.")] = 0.0,
) -> None:
    """Write a synthetic labelled history and FILE.truth.csv with the true probabilities.

    The history holds three improbable alliances: video games and wealth management with a
    technical integration (+2.5 log-odds each, about 0.4% of proposals) and education with a
    cross webinar (+1.2, about 0.7%). A cell needs surprises.min_rows proposals (10) to be
    tested, so `partnerscore surprises` finds them from about 2,500 proposals and calls the
    strong ones in about half of histories of 5,000 (bench/results/surprises.md).
    """
    from pipelines.cli.commands import write_simulation

    rows = write_simulation(out_file, periods=periods, per_period=per_period, seed=seed, drift=drift)
    typer.echo(f"wrote {rows} labelled proposals to {out_file} and {out_file}.truth.csv")


@app.command()
def train(
    data: Annotated[list[Path] | None, typer.Option("--data", help="Labelled file(s); default: the workspace's labelled store.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same data, config and seed: same model).")] = 0,
    output_format: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train, backtest and register a calibrated model from labelled trial outcomes."""
    from pipelines.cli.commands import train_command

    cfg, text = _config(config)
    train_command(_workspace(workspace), cfg, text, data or [], seed=seed, output_format=output_format)


@app.command()
def surprises(
    data: Annotated[list[Path] | None, typer.Option("--data", help="Labelled file(s); default: the workspace's labelled store.")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
    seed: Annotated[int, typer.Option(help="Random seed of the out-of-fold expectations.")] = 0,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List improbable alliances: pairs of values whose real impact beats the model's expectations.

    The pairs watched are the configuration's `interactions:`; how many proposals a cell
    needs and the false-alarm rate are in its `surprises:` section. Exit status 2 on bad
    input or too little data (as train).
    """
    from pipelines.cli.surprises import surprises_command

    cfg, _ = _config(config)
    surprises_command(_workspace(workspace), cfg, data or [], seed=seed, output_format=output_format)


@app.command()
def predict(
    file: Annotated[str | None, typer.Argument(help="Proposals to score (any contract format); - or omitted: JSON on stdin.")] = None,
    model: Annotated[str | None, typer.Option(help="models:/partnerscore/3, models:/partnerscore@challenger, or a model directory; default: the exported champion.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="table, csv, json, jsonl or xlsx (xlsx needs --output).")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of the terminal.")] = None,
    top: Annotated[int | None, typer.Option(min=0, help="Reasons shown for and against (default from the configuration).")] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help="Score one proposal given as field=value (repeat).")] = None,
    capacity: Annotated[int | None, typer.Option(min=1, help="How many proposals the team can take on: marks the top K.")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    engine: Annotated[Engine, typer.Option(help="local, or spark: score a Parquet table through mlflow.pyfunc.spark_udf and write Parquet to --output.")] = "local",
    spark_master: Annotated[str, typer.Option(help="Spark master for --engine spark: local[N] or a cluster URL.")] = "local[2]",
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Score proposals: probability, grade, rank and the reasons for and against.

    Proposals are checked against the contract stored with the model; the configuration
    names the registered model and bounds the waits on its tracking server.
    """
    from pipelines.cli.commands import predict_command

    cfg, _ = _config(config)
    predict_command(_workspace(workspace), file, model=model, output_format=output_format,
                    output=output, top=top, settings=settings or [], capacity=capacity, sheet=sheet,
                    engine=engine, spark_master=spark_master, registry=_registry(cfg, config))


def _registry(cfg: Config, option: Path | None) -> RegistrySettings:
    """The configuration's registry settings; its wait bounds only when one was given."""
    from pipelines.tracking import RegistrySettings

    given = option or Context.config
    return RegistrySettings(cfg.model.registered_name, cfg.tracking if given else None)


@app.command()
def demo(
    history: Annotated[Path, typer.Option(help="Labelled history to train on.")] = Path("data/sample/history.csv"),
    proposals: Annotated[Path, typer.Option(help="Proposals to score.")] = Path("data/sample/new_proposals.csv"),
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train on the sample history, register the model, and rank the sample proposals."""
    from pipelines.cli.commands import demo_command

    cfg, text = _config(config)
    demo_command(_workspace(workspace), cfg, text, history, proposals)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Labelled outcomes of a trial period (any contract format).")],
    period: Annotated[str | None, typer.Option(help="The trial period (YYYY-MM) every row must belong to.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a stored period with different content (the old version is archived).")] = False,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a period's labelled outcomes to the workspace's store (idempotent)."""
    from pipelines.cli.lifecycle import ingest as run

    cfg, _ = _config(config)
    run(_workspace(workspace), cfg, file, period=period, replace=replace, sheet=sheet)


@app.command()
def store(workspace: WorkspaceOpt = None, config: ConfigOpt = None) -> None:
    """List the stored periods with rows, outcomes and digests; flag damaged or mismatched ones."""
    from pipelines.cli.lifecycle import store_listing

    cfg, _ = _config(config)
    store_listing(_workspace(workspace), cfg)


@app.command()
def retrain(
    file: Annotated[Path | None, typer.Argument(help="A new period's labelled outcomes to ingest first.")] = None,
    period: Annotated[str | None, typer.Option(help="The trial period (YYYY-MM) of FILE.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train a challenger on all stored periods, gate it against the champion, promote on pass.

    Exit status 4 when the gate keeps the champion.
    """
    from pipelines.cli.lifecycle import retrain as run

    cfg, text = _config(config)
    status = run(_workspace(workspace), cfg, text, file, period=period, seed=seed)
    raise typer.Exit(status)


@app.command()
def models(
    card: Annotated[str | None, typer.Option(help="Print the model card of this version.")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List registered versions with aliases, periods, metrics and gate outcomes."""
    from pipelines.cli.lifecycle import models as run

    cfg, _ = _config(config)
    run(_workspace(workspace), cfg, card)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion.")],
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Make a version the champion by hand (the old one keeps @previous)."""
    from pipelines.cli.lifecycle import promote as run

    cfg, _ = _config(config)
    run(_workspace(workspace), cfg, version, rollback=False)


@app.command()
def rollback(workspace: WorkspaceOpt = None, config: ConfigOpt = None) -> None:
    """Swap @champion and @previous."""
    from pipelines.cli.lifecycle import promote as run

    cfg, _ = _config(config)
    run(_workspace(workspace), cfg, None, rollback=True)


@app.command()
def decide(
    file: Annotated[str, typer.Argument(help="Proposals to decide on (any contract format; - for stdin).")],
    capacity: Annotated[int, typer.Option(min=1, help="How many proposals the team can accept.")],
    explore_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Chance that each place goes to exploration, so every proposal can be accepted and later outcomes stay learnable: a random other proposal, or, for the configuration's decide.directed_share of exploring places, one from the cells the weak-signal report of the labelled store ranks high.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Random seed for the exploration draw.")] = None,
    model: Annotated[str | None, typer.Option(help="Model to rank with (default: the exported champion).")] = None,
    again: Annotated[bool, typer.Option("--again", help="Decide anew on proposals the log already holds (refused otherwise): the new decisions supersede theirs, and give the propensities their outcomes are weighted by.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Recommend which proposals to accept, and log every decision with its propensity."""
    from pipelines.cli.lifecycle import decide as run

    cfg, _ = _config(config)
    run(_workspace(workspace), cfg, file, capacity=capacity, explore_rate=explore_rate, seed=seed,
        model=model, again=again)


@app.command()
def report(
    file: Annotated[str | None, typer.Argument(help="Proposals to review; omit for a report on the model itself.")] = None,
    output: Annotated[Path, typer.Option(help="HTML file to write (atomically).")] = Path("report.html"),
    model: Annotated[str | None, typer.Option(help="models:/ URI or model directory; default: the exported champion.")] = None,
    capacity: Annotated[int | None, typer.Option(min=1, help="Mark the top K proposals.")] = None,
    data: Annotated[Path | None, typer.Option(help="Proposals to draw the model report's contribution plots from; labelled ones also give its weak signals (default: the labelled store).")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write a self-contained HTML report: a batch review, or the model's own report."""
    from pipelines.cli.lifecycle import gate_history
    from pipelines.report.build import report_command

    ws, (cfg, _) = _workspace(workspace), _config(config)
    history = None if file else gate_history(ws, cfg)
    from pipelines.jobs.surprises import report_weak_signals

    signals = None if file else report_weak_signals(ws, cfg, data, sheet)
    if signals is not None and signals.note:
        typer.echo(f"Weak signals: {signals.note}", err=True)
    report_command(ws, file, output=output, model=model, capacity=capacity, data=data,
                   sheet=sheet, gate_history=history, tracking=cfg.tracking, weak_signals=signals)
    typer.echo(f"wrote {output}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the command; each failure exits with its documented status and message."""
    from pipelines.cli.exits import run

    run(app, argv)


if __name__ == "__main__":
    main()

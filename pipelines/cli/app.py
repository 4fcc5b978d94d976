"""The `partnerscore` command: thin handlers that parse options and delegate to typed jobs.

Exit status: 0 success; 1 unexpected failure; 2 bad input (data, configuration or
too little data to train); 3 a model that is missing, altered or untrusted; 4 retrain
kept the champion; 69 tracking server unavailable; 75 workspace busy; 77 permission
denied by the tracking server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from model.config import Config, ConfigError
from model.errors import TrainingRefused
from model.validation import ContractError
from pipelines.errors import TrackingUnavailable
from pipelines.settings import Workspace, load_config
from pipelines.storage.lock import WorkspaceBusy

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
    from pipelines.settings import default_config_text

    path = option or Context.config
    config = load_config(path)
    return config, (path.read_text("utf-8") if path else default_config_text())


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="File to check (CSV, XLSX, Parquet, JSON, JSONL; - for stdin).")],
    labelled: Annotated[bool, typer.Option("--labelled", help="Check as labelled outcomes.")] = False,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Check a file against the data contract and summarise it."""
    from model.validation import summarise
    from pipelines.storage.readers import load_proposals

    cfg, _ = _config(config)
    frame = load_proposals(file, cfg, labelled=labelled, sheet=sheet)
    from pipelines.cli.console import out

    summary = summarise(frame, cfg)
    out.print(f"{file}: valid ({summary['rows']} rows)")
    out.print_json(data=summary)


@app.command()
def simulate(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write (its truth beside it).")],
    periods: Annotated[int, typer.Option(min=1, help="Trial periods.")] = 12,
    per_period: Annotated[int, typer.Option(min=1, help="Proposals per period.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    drift: Annotated[float, typer.Option(min=0.0, max=1.0, help="Drift across periods, 0-1.")] = 0.0,
) -> None:
    """Write a synthetic labelled history and FILE.truth.csv with the true probabilities."""
    from pipelines.cli.commands import write_simulation

    rows = write_simulation(out_file, periods=periods, per_period=per_period, seed=seed, drift=drift)
    typer.echo(f"wrote {rows} labelled proposals to {out_file} and {out_file}.truth.csv")


@app.command()
def train(
    data: Annotated[list[Path] | None, typer.Option("--data", help="Labelled file(s); default: the workspace's labelled store.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same data, config and seed: same model).")] = 0,
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train, backtest and register a calibrated model from labelled trial outcomes."""
    from pipelines.cli.commands import train_command

    cfg, text = _config(config)
    train_command(_workspace(workspace), cfg, text, data or [], seed=seed, output_format=output_format)


@app.command()
def predict(
    file: Annotated[str | None, typer.Argument(help="Proposals to score (any contract format); - or omitted: JSON on stdin.")] = None,
    model: Annotated[str | None, typer.Option(help="models:/partnerscore/3, models:/partnerscore@challenger, or a model directory; default: the exported champion.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, csv, json, jsonl or xlsx.")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of the terminal.")] = None,
    top: Annotated[int | None, typer.Option(min=0, help="Reasons shown for and against (default from the configuration).")] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help="Score one proposal given as field=value (repeat).")] = None,
    capacity: Annotated[int | None, typer.Option(min=1, help="How many proposals the team can take on: marks the top K.")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    engine: Annotated[str, typer.Option(help="local, or spark: score a Parquet table through mlflow.pyfunc.spark_udf and write Parquet to --output.")] = "local",
    spark_master: Annotated[str, typer.Option(help="Spark master for --engine spark: local[N] or a cluster URL.")] = "local[2]",
    workspace: WorkspaceOpt = None,
) -> None:
    """Score proposals: probability, grade, rank and the reasons for and against."""
    from pipelines.cli.commands import predict_command

    predict_command(_workspace(workspace), file, model=model, output_format=output_format,
                    output=output, top=top, settings=settings or [], capacity=capacity, sheet=sheet,
                    engine=engine, spark_master=spark_master)


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
def store(workspace: WorkspaceOpt = None) -> None:
    """List the stored periods with rows, outcomes and digests."""
    from pipelines.cli.lifecycle import store_listing

    store_listing(_workspace(workspace))


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
    explore_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Chance that each place goes to a random other proposal, so every proposal can be accepted and later outcomes stay learnable.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Random seed for the exploration draw.")] = None,
    model: Annotated[str | None, typer.Option(help="Model to rank with (default: the exported champion).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Recommend which proposals to accept, and log every decision with its propensity."""
    from pipelines.cli.lifecycle import decide as run

    run(_workspace(workspace), file, capacity=capacity, explore_rate=explore_rate, seed=seed,
        model=model)


@app.command()
def report(
    file: Annotated[str | None, typer.Argument(help="Proposals to review; omit for a report on the model itself.")] = None,
    output: Annotated[Path, typer.Option(help="HTML file to write (atomically).")] = Path("report.html"),
    model: Annotated[str | None, typer.Option(help="models:/ URI or model directory; default: the exported champion.")] = None,
    capacity: Annotated[int | None, typer.Option(min=1, help="Mark the top K proposals.")] = None,
    data: Annotated[Path | None, typer.Option(help="Proposals to draw the model report's contribution plots from.")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a self-contained HTML report: a batch review, or the model's own report."""
    from pipelines.cli.lifecycle import gate_history
    from pipelines.report.build import report_command

    ws = _workspace(workspace)
    history = None if file else gate_history(ws, _config(None)[0])
    report_command(ws, file, output=output, model=model, capacity=capacity, data=data,
                   sheet=sheet, gate_history=history)
    typer.echo(f"wrote {output}")


def _fail(status: int, message: str) -> None:
    from pipelines.cli.console import err

    err.print(message, markup=False)
    raise SystemExit(status)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: runs the command and maps failures to clear messages and exit codes."""
    from pipelines.storage.bundle import BundleError

    try:
        status = app(args=argv, standalone_mode=False)
        if isinstance(status, int) and status:  # typer.Exit(code) returns the code here
            raise SystemExit(status)
        return None
    except ContractError as exc:
        from pipelines.cli.console import contract_report

        contract_report(exc)
        raise SystemExit(2) from None
    except ConfigError as exc:
        _fail(2, str(exc))
    except BundleError as exc:
        _fail(3, f"model refused: {exc}")
    except TrainingRefused as exc:
        _fail(2, f"training refused: {exc}")
    except WorkspaceBusy as exc:
        _fail(75, str(exc))
    except TrackingUnavailable as exc:
        _fail(69, str(exc))
    except LookupError as exc:
        _fail(2, str(exc))
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        _fail(130, "interrupted")
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if _permission_denied(exc):
            _fail(77, f"permission denied by the tracking server: {exc}\n"
                      "Ask an administrator for EDIT or MANAGE on the experiment and model.")
        if os.environ.get("PARTNERSCORE_DEBUG"):
            raise
        _fail(1, f"unexpected error: {type(exc).__name__}: {exc}\n"
                 "Set PARTNERSCORE_DEBUG=1 to see the traceback.")
    return None


def _permission_denied(exc: Exception) -> bool:
    code = str(getattr(exc, "error_code", ""))
    text = str(exc).lower()
    return (code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
            or "permission denied" in text or ("401" in text and "unauthorized" in text))


if __name__ == "__main__":
    main()

"""Commands of the data team's loop: ingest, store, retrain, models, promote, rollback, decide."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from model.config import Config
from pipelines.cli.console import PlainTable, out, provisional_line
from pipelines.documents import GateRecord
from pipelines.errors import ReaderGone
from pipelines.settings import Workspace

if TYPE_CHECKING:
    from pipelines.jobs.retrain import RetrainOutcome


def ingest(workspace: Workspace, config: Config, file: Path, *, period: str | None,
           replace: bool, sheet: str | None) -> None:
    """`partnerscore ingest`."""
    from pipelines.jobs.ingest import ingest_command

    outcome = ingest_command(workspace, config, file, period=period, replace=replace, sheet=sheet)
    for p, status in outcome.periods.items():
        out.print(f"{p}: {status}", markup=False)
    for note in outcome.notes:
        out.print(f"Note: {note}.", markup=False)
    if not outcome.changed:
        out.print("Nothing changed: this content is already stored.")


def store_listing(workspace: Workspace, config: Config) -> None:
    """`partnerscore store`: also flags periods damaged or lacking a column `config` requires."""
    from pipelines.storage import store

    listing = store.listing(workspace)
    if not listing:
        out.print(f"The labelled store in {workspace.store} holds no period yet. Store a trial "
                  "period's outcomes with: partnerscore ingest FILE", markup=False)
        return
    table = PlainTable(title=f"Labelled store in {workspace.store}", title_justify="left")
    for column in ("period", "rows", "with impact", "digest", "ingested", "source"):
        table.add_column(column)
    for r in listing:
        table.add_row(r["period"], str(r["rows"]), str(r["positives"]), r["digest"],
                      r["ingested_at"], r["source"])
    out.print(table)
    damaged = store.verify_store(workspace)
    for problem in damaged:
        out.print(f"[bold red]DAMAGED: {escape(problem)}[/]")
    for gap in store.contract_gaps(workspace, config):
        where = escape(f"period {gap.value} has no column {gap.column}")
        out.print(f"[bold yellow]{where}, which the configuration requires: training from the "
                  "store will refuse it[/]")
    if damaged:  # the listing is shown, and the status says the store cannot be trusted
        raise store.StoreDamaged(f"{len(damaged)} stored file(s) do not match their digests")


def _metric_line(name: str, m: dict[str, float]) -> str:
    return f"{name} {m['value']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"


def retrain(workspace: Workspace, config: Config, config_text: str, file: Path | None, *,
            period: str | None, seed: int) -> int:
    """`partnerscore retrain`; returns the exit status (4 when the gate keeps the champion)."""
    from pipelines.cli.progress import training_progress
    from pipelines.errors import NothingNew
    from pipelines.jobs.retrain import GATE_FAILED, run_retrain

    try:
        with training_progress() as progress:
            outcome = run_retrain(workspace, config, config_text, file, period=period,
                                  seed=seed, progress=progress)
    except NothingNew as nothing:
        out.print(str(nothing), markup=False)
        return 0
    status = 0 if outcome.promoted else GATE_FAILED
    try:
        _show_retrain(outcome, config)
    except ReaderGone:  # the reader stopped early: the decision's status still stands
        from pipelines.cli.exits import quiet_stdout

        quiet_stdout()
    return status


def _show_retrain(outcome: RetrainOutcome, config: Config) -> None:
    """What `partnerscore retrain` prints."""
    from pipelines.jobs.retrain import changes_text

    for p, stored in outcome.ingested.items():
        out.print(f"ingested {p}: {stored}", markup=False)
    for note in outcome.ingest_notes:
        out.print(f"Note: {note}.", markup=False)
    drift = outcome.drift
    if drift["features"]:
        out.print(f"Drift of {drift['newest_period']} against earlier periods (LARGE: past the "
                  f"rule of thumb and past what {drift['chance_level']:.0%} of random re-splits "
                  f"of these rows reach; chance alone would mark about "
                  f"{drift['expected_by_chance']:.2g} of these {len(drift['features'])} "
                  "features LARGE):")
    else:
        out.print(f"Drift: no period before {drift['newest_period']} to compare it with.")
    for row in drift["features"]:
        measured = (f"{row['metric']} {row['distance']:.3f}" if math.isfinite(row["distance"])
                    else "no values to compare")
        missing = (f" (missing in {row['missing_newest']:.0%} of the newest period against "
                   f"{row['missing_history']:.0%} before)" if row.get("missing_shifted") else "")
        out.print(escape(f"  {row['label']}: {measured}{missing}")
                  + (" [bold yellow]LARGE[/]" if row["large"] else ""))
    impact = drift["impact"]
    weighted = " weighted by 1 / acceptance propensity," if impact.get("weighted") else ""
    selected = ("; accepted proposals only, so the gate judges their outcomes against the "
                "champion's probabilities instead") if drift.get("selected") else ""
    out.print(f"  impact rate{weighted} {impact['newest_rate']:.1%} (90% interval "
              f"{impact['newest_low']:.1%} to {impact['newest_high']:.1%}); history "
              f"{impact['history_rate']:.1%}{selected}")
    for warning in drift["warnings"]:
        out.print(f"[bold yellow]WARNING: {escape(warning)}[/]")
    decision = outcome.decision
    for label, metrics in (("champion", decision.champion), ("challenger", decision.challenger)):
        if metrics:
            out.print(f"{label}: " + "; ".join(_metric_line(k, metrics[k])
                                               for k in ("log_loss", "roc_auc", "brier")))
    verdict = "promoted to @champion" if outcome.promoted else "NOT promoted; champion kept"
    out.print(f"Challenger version {outcome.challenger} {verdict}: {decision.reason}",
              markup=False)
    if outcome.same_model:
        out.print(outcome.same_model, markup=False)
    if outcome.hindsight:
        out.print(outcome.hindsight.text, markup=False)
    if outcome.training.provisional:
        out.print(provisional_line(int(outcome.training.data["positives"]),
                                   config.model.comfortable_positives))
    out.print(changes_text(outcome.verdict_changes), markup=False)
    from pipelines.cli.surprises import print_lines, retrain_lines

    print_lines(retrain_lines(outcome.weak_signals))


def _with_interval(metrics: dict[str, float], name: str) -> str:
    """'0.852 [0.801, 0.897]': a logged metric with its interval (the value alone for a
    version logged without one). A first month ranked perfectly reads 1.000 [0.752, 1.000],
    not a bare 1.000 that would look like the best version."""
    value = metrics.get(name, float("nan"))
    low, high = metrics.get(f"{name}_low"), metrics.get(f"{name}_high")
    shown = f"{value:.3f}"
    return shown if low is None or high is None else f"{shown} [{low:.3f}, {high:.3f}]"


def models(workspace: Workspace, config: Config, card: str | None) -> None:
    """`partnerscore models [--card VERSION]`."""
    from pipelines.tracking.gateway import Gateway

    gateway = Gateway.open(workspace, config.tracking, config.model.experiment)
    name = config.model.registered_name
    if card is not None:
        run_id = gateway.version_run_id(name, card)
        text = gateway.run_text(run_id, "model_card.md") if run_id else None
        out.print(text or f"version {card} has no model card", markup=False)
        return
    table = PlainTable(title=f"Registered versions of {name}", title_justify="left")
    for column in ("version", "aliases", "periods", "model", "CV AUC [interval]",
                   "CV log loss", "gate"):
        table.add_column(column)
    from pipelines.storage import store

    stale = []
    for v in gateway.versions(name):
        periods = v.tags.get("periods", "").split(",")
        note = _replaced_note(v.version, store.replaced_since(workspace, periods, v.created))
        if note:
            stale.append(f"{note}: promoting or rolling back to it brings that content back "
                         "into the scores.")
        m, gate = v.metrics, v.gate
        table.add_row(v.version, ", ".join("@" + a for a in v.aliases),
                      f"{periods[0]} to {periods[-1]}" if periods[0] else "",
                      v.tags.get("chosen_model", "").split("(")[0]
                      + (" (provisional)" if v.tags.get("provisional") == "true" else ""),
                      _with_interval(m, "cv_roc_auc"),
                      f"{m.get('cv_log_loss', float('nan')):.4f}",
                      "" if gate is None else "passed" if gate.passed else "failed")
    out.print(table)
    for line in stale:
        out.print(line, markup=False)


def promote(workspace: Workspace, config: Config, version: str | None, *, rollback: bool) -> None:
    """`partnerscore promote VERSION` and `partnerscore rollback`."""
    from pipelines.storage import store
    from pipelines.storage.lock import workspace_lock
    from pipelines.tracking import registry
    from pipelines.tracking.gateway import Gateway

    with workspace_lock(workspace):
        gateway = Gateway.open(workspace, config.tracking, config.model.experiment)
        name = config.model.registered_name
        before: str | None
        if rollback:
            before, after = registry.rollback(gateway, workspace, name)
        else:
            assert version is not None
            gateway.version_run_id(name, version)  # a version that does not exist stops here
            now = datetime.now(UTC).isoformat(timespec="seconds")
            before = registry.promote(gateway, workspace, name, version, f"promoted by hand at {now}")
            after = version
        note = _replaced_note(after, store.replaced_since(
            workspace, *gateway.version_learned(name, after)))
    out.print(f"@champion: version {before} -> version {after}; exported to {workspace.champion}",
              markup=False)
    if note:
        out.print(f"[bold yellow]{escape(note)}; retrain to learn the store as it is now.[/]")


def _replaced_note(version: str, replaced: list[str]) -> str:
    """'Version 2 learned 2025-12 as stored before it was replaced (ingest --replace)', or ""."""
    if not replaced:
        return ""
    return (f"Version {version} learned {', '.join(replaced)} as stored before it was "
            "replaced (ingest --replace)")


def decide(workspace: Workspace, config: Config, file: str, *, capacity: int,
           explore_rate: float, seed: int | None, model: str | None, again: bool = False) -> None:
    """`partnerscore decide`: accept within capacity, explore, log every decision."""
    from model.pairs import values_label
    from pipelines.jobs.decide import run_decide

    outcome = run_decide(workspace, file, capacity=capacity, explore_rate=explore_rate, seed=seed,
                         model=model, tracking=config.tracking, config=config, again=again)
    share = outcome.decisions[0].directed_share if outcome.decisions else 0.0
    directed = (f"{share:.0%} of it directed" if share and outcome.directed is not None
                and outcome.directed.cells else "uniform")
    table = PlainTable(title=f"Decisions (capacity {capacity}, exploration {explore_rate:.0%}, "
                             f"{directed})", title_justify="left")
    for column in ("rank", "proposal", "impact", "decision", "drawn", "propensity", "cell"):
        table.add_column(column)
    for d in sorted(outcome.decisions, key=lambda d: d.rank):
        cell = values_label([str(v) for v in (d.cell or {}).values()],
                            [config.by_name.get(k) for k in d.cell or {}])
        table.add_row(str(d.rank), str(d.proposal_id), f"{d.impact_probability:.1%}",
                      "ACCEPT" if d.accepted else "decline", d.drawn or "",
                      f"{d.propensity:.3f}", cell)
    out.print(table)
    if outcome.directed is not None:
        out.print(f"{outcome.directed.note}.", markup=False)
    out.print(f"Logged {len(outcome.decisions)} decisions to {workspace.decisions} "
              f"({outcome.model_note}).", markup=False)


def gate_history(workspace: Workspace, config: Config) -> list[GateRecord] | None:
    """Promotion decisions from the registry, or None when there is no registry to ask."""
    import os

    if not (os.environ.get("MLFLOW_TRACKING_URI") or workspace.mlflow_db.exists()):
        return None
    from pipelines.tracking.gateway import Gateway

    gateway = Gateway.open(workspace, config.tracking, config.model.experiment)
    return gateway.gate_history(config.model.registered_name)

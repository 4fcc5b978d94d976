"""What people read in the terminal: error reports, training summaries, ranked proposals."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from model.validation import ContractError
from pipelines.jobs.predict import ScoredBatch
from pipelines.report.formats import reason_text

# Without a terminal (pipes, CI logs) rich would assume 80 columns, too narrow for reasons.
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False)


def contract_report(error: ContractError) -> None:
    """Every problem in a table: row, column, value found, what was expected."""
    count = len(error.problems)
    title = f"{error.source + ': ' if error.source else ''}{count} problem{'s' * (count != 1)}"
    table = Table(title=title, title_justify="left", show_lines=False)
    for name in ("row", "column", "found", "expected"):
        table.add_column(name, overflow="fold")
    for p in error.problems[:200]:
        table.add_row("" if p.row is None else str(p.row), p.column or "",
                      repr(p.value) if p.value else "(empty)", p.expected)
    err.print(table)
    if count > 200:
        err.print(f"... and {count - 200} more")
    err.print("Nothing was written. Fix the file and run the command again.")


def _interval(m: dict[str, float]) -> str:
    return f"{m['value']:.3f}  [{m['low']:.3f}, {m['high']:.3f}]"


def training_summary(training: dict[str, Any], version: str, alias: str, name: str) -> None:
    """The data person's view of a training run."""
    data = training["data"]
    for warning in training.get("warnings", []):
        out.print(f"[bold yellow]WARNING: {warning}[/]")
    out.print(f"Data: {data['rows']} labelled proposals, {data['positives']} with real impact, "
              f"{len(data['periods'])} periods ({data['periods'][0]} to {data['periods'][-1]}); "
              f"effective sample size {data['effective_sample_size']}")
    out.print(f"Chosen model: {training['chosen']} ({data['cv_folds']}-fold repeated CV, log loss)")
    table = Table(title="Cross-validated metrics (90% bootstrap interval)", title_justify="left")
    table.add_column("metric")
    table.add_column("value  [interval]")
    for metric, m in training["metrics"].items():
        table.add_row(metric, _interval(m))
    out.print(table)
    backtest = Table(title="Backtest: each period scored by a model trained on earlier periods",
                     title_justify="left")
    for column in ("period", "rows", "with impact", "expected", "ROC AUC", "log loss"):
        backtest.add_column(column, justify="right")
    for r in training["backtest"]:
        if "skipped" in r:
            backtest.add_row(r["period"], str(r["rows"]), str(r["positives"]), r["skipped"], "", "")
        else:
            backtest.add_row(r["period"], str(r["rows"]), str(r["positives"]),
                             f"{r['expected_positives']:.1f}", f"{r['roc_auc']:.3f}",
                             f"{r['log_loss']:.3f}")
    out.print(backtest)
    out.print(f"Registered {name} version {version} as @{alias}")


def _short(items: list[dict[str, Any]], n: int) -> str:
    return "\n".join(f"{i['label']} ({100 * i['points']:+.1f})" for i in items[:n])


def ranked_table(batch: ScoredBatch, note: str) -> None:
    """The ranked proposals a BD person reads at a glance."""
    table = Table(title="Proposals ranked by probability of real impact", title_justify="left",
                  show_lines=True)
    for column, justify in (("#", "right"), ("proposal", "left"), ("partner", "left"),
                            ("impact", "right"), ("grade", "center"), ("for (points)", "left"),
                            ("against (points)", "left"), ("flags", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for p in sorted(batch.proposals, key=lambda r: r["rank"]):
        mark = " *" if p.get("within_capacity") else ""
        table.add_row(f"{p['rank']}{mark}", str(p["proposal_id"]), str(p["partner_name"] or ""),
                      f"{100 * p['impact_probability']:.1f}%", p["grade"],
                      _short(p["reasons_for"], 3), _short(p["reasons_against"], 3),
                      "\n".join(f"{f['kind'].replace('_', ' ')}: {f['feature']}" for f in p["flags"]))
    out.print(table)
    out.print(f"Base probability {100 * batch.base_probability:.1f}%; points are percentage "
              f"points from it. Scored by {note}.")
    if batch.capacity:
        c = batch.capacity
        out.print(f"Capacity {c['capacity']}: the top {c['selected']} (marked *) are expected to "
                  f"give {c['expected_impactful']:.1f} impactful partnerships.")


__all__ = ["contract_report", "ranked_table", "reason_text", "training_summary"]

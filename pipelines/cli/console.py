"""What people read in the terminal: error reports, training summaries, ranked proposals."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from model.validation import ContractError
from model.wording import (
    grade_range_text,
    interval_text,
    percent_text,
    plural,
    provisional_advice,
    reason_text,
)
from pipelines.documents import Interval, ScoredBatch, ScoredProposal, TrainingRecord
from pipelines.errors import ReaderGone
from pipelines.report.card import no_pairs_text, pair_headers, pair_rows


class PlainTable(Table):
    """A table whose title, headers and text cells are shown exactly as given. Rich reads
    brackets in plain strings as markup: a partner named "[Acme] Studio" would lose its
    brackets, and a value "[/b]" in a file would stop the command with a markup error."""

    def __init__(self, *headers: Any, title: str | None = None, **options: Any) -> None:
        style = options.get("title_style") or "table.title"  # rich styles plain titles only
        super().__init__(*headers, title=None if title is None else Text(title, style=style),
                         **options)

    def add_column(self, header: Any = "", *args: Any, **options: Any) -> None:
        super().add_column(Text(header) if isinstance(header, str) else header, *args, **options)

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **options)


# Without a terminal (pipes, CI logs) rich would assume 80 columns, too narrow for reasons,
# and would break a long file path in an error message across lines (one could no longer
# copy it, nor find it with grep): there, messages are printed on one line, and error
# tables are 150 wide unless COLUMNS says otherwise.
class _Output(Console):
    """Standard output or error: a reader that stops early (`| head`) ends the command
    quietly with status 0, or with its failure's own status (`pipelines.cli.exits`), not
    with rich's status 1, read as a defect."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise ReaderGone


def write_stdout(data: bytes | str) -> None:
    """Write to standard output (text or bytes, flushed); a reader gone raises ReaderGone."""
    try:
        if isinstance(data, str):
            sys.stdout.write(data)
            sys.stdout.flush()
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    except BrokenPipeError:
        raise ReaderGone from None


out = _Output(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 150)
_ERR_TTY = sys.stderr is not None and sys.stderr.isatty()  # None: standard error closed
err = _Output(stderr=True, highlight=False, soft_wrap=not _ERR_TTY,
              width=None if _ERR_TTY or os.environ.get("COLUMNS") else 150)


# Sources of problems that are commands, not files: what they lack is no file's fault.
COMMAND_SOURCES = ("train", "surprises", "retrain")


def contract_report(error: ContractError) -> None:
    """Every problem in a table: row, column, value found, what was expected; a command's
    single problem outside any file (an empty store, named as the value) as a sentence."""
    count = len(error.problems)
    if error.source in COMMAND_SOURCES and count == 1 and error.problems[0].row is None \
            and not error.problems[0].column:
        problem = error.problems[0]
        where = f" in {problem.value}" if problem.value else ""
        err.print(f"{error.source}: found nothing{where}; expected {problem.expected}. Nothing "
                  "was written.", markup=False)
        return
    title = f"{error.source + ': ' if error.source else ''}{count} problem{'s' * (count != 1)}"
    err.print(title, markup=False)  # on its own line: a long path is never cut
    table = PlainTable(show_lines=False)
    for name in ("row", "column", "found", "expected"):
        table.add_column(name, overflow="fold")
    for p in error.problems[:200]:
        table.add_row("" if p.row is None else str(p.row), p.column or "",
                      repr(p.value) if p.value else "(empty)", p.expected)
    err.print(table)
    if count > 200:
        err.print(f"... and {count - 200} more")
    if error.source == "decide":
        err.print("Nothing was logged. Pass only new proposals, or --again to decide anew.")
        return
    fix = ("the --set options" if error.source == "--set" else
           "the data" if error.source in COMMAND_SOURCES else "the file")
    err.print(f"Nothing was written. Fix {fix} and run the command again.", markup=False)


def _interval(m: Interval) -> str:
    return f"{m['value']:.3f}  [{m['low']:.3f}, {m['high']:.3f}]"


def provisional_line(positives: int, comfortable: int | None = None) -> str:
    """The line shown above a provisional model's outputs."""
    return f"[bold yellow]{escape(provisional_advice(positives, comfortable))}[/]"


def beliefs_table(training: TrainingRecord, level: float = 0.9) -> Table | None:
    """The team's beliefs, then the effects learned without one, each a sentence; None when
    the model checked none."""
    entries = [*training.beliefs, *training.learned]
    if not entries:
        return None
    table = PlainTable(title="Beliefs against the outcomes (effects in log-odds per typical change)",
                       title_justify="left", show_header=False)
    table.add_column("belief", overflow="fold")
    for entry in entries:
        table.add_row(entry.sentence(level))
    return table


def pairs_table(training: TrainingRecord) -> Table | str:
    """The pair cells the model learned, largest term first, or why there is none."""
    if not training.pairs:
        return escape(no_pairs_text(training))
    table = PlainTable(title="Pairs learned (a term on top of the two features' own effects)",
                       title_justify="left")
    for header in pair_headers(training.pairs):
        table.add_column(header, justify="left" if header == "pair" else "right")
    for row in pair_rows(training.pairs):
        table.add_row(*row)
    return table


def training_summary(training: TrainingRecord, version: str, alias: str, name: str,
                     comfortable: int | None = None, level: float = 0.9) -> None:
    """The data person's view of a training run."""
    data = training.data
    if training.provisional:
        out.print(provisional_line(int(data["positives"]), comfortable))
    for warning in training.warnings:
        out.print(f"[bold yellow]WARNING: {escape(warning)}[/]")
    out.print(f"Data: {data['rows']} labelled proposals, {data['positives']} with real impact, "
              f"{plural(len(data['periods']), 'period')} ({data['periods'][0]} to {data['periods'][-1]}); "
              f"effective sample size {data['effective_sample_size']}")
    compared = sorted(training.candidates, key=lambda c: c["cv_log_loss"])
    if len(compared) > 1:
        scores = "; ".join(f"{c['name']} {c['cv_log_loss']:.4f}" for c in compared)
        out.print(f"Chosen model: {training.chosen}, the lowest cross-validated log loss of "
                  f"{len(compared)} candidates ({data['cv_folds']}-fold repeated CV, mean over "
                  f"the repeats: {scores})", markup=False)
    else:
        out.print(f"Model: {training.chosen}, the only candidate trained on this data "
                  f"({data['cv_folds']}-fold repeated CV)", markup=False)
    title = "Cross-validated metrics (90% interval)"
    table = PlainTable(title=title, title_justify="left", min_width=len(title))  # title on one line
    table.add_column("metric")
    table.add_column("value  [interval]")
    for metric, m in training.metrics.items():
        table.add_row(metric, _interval(m))
    out.print(table)
    title = "Backtest: each period scored by a model trained on earlier periods"
    backtest = PlainTable(title=title, title_justify="left", min_width=len(title))
    for column in ("period", "rows", "with impact", "expected", "ROC AUC", "log loss"):
        backtest.add_column(column, justify="right")
    for r in training.backtest:
        if "skipped" in r:
            backtest.add_row(r["period"], str(r["rows"]), str(r["positives"]), r["skipped"], "", "")
        else:
            backtest.add_row(r["period"], str(r["rows"]), str(r["positives"]),
                             f"{r['expected_positives']:.1f}", f"{r['roc_auc']:.3f}",
                             f"{r['log_loss']:.3f}")
    out.print(backtest)
    for extra in (beliefs_table(training, level), pairs_table(training)):
        if extra is not None:
            out.print(extra)
    out.print(f"Registered {name} version {version} as @{alias}", markup=False)


def _short(items: Sequence[Mapping[str, Any]], n: int) -> str:
    return "\n".join(f"{i['label']} ({100 * i['points']:+.1f})" for i in items[:n])


def _level_name(batch: ScoredBatch) -> str:
    level = batch.model.get("interval_level")
    return f"{100 * level:.0f}% interval" if level else "interval"


def _grade_cell(p: ScoredProposal) -> str:
    """The grade, and beneath it the grades its interval spans when they differ ('C to A')."""
    spans = grade_range_text(p.grade_interval)
    return f"{p.grade}\n{spans}" if spans else p.grade


FLAG_WORDS = {"missing": "not given", "novel_category": "new value",
              "outside_training_range": "outside the training range"}


def ranked_table(batch: ScoredBatch, note: str) -> None:
    """The ranked proposals a BD person reads at a glance."""
    if batch.provisional:
        out.print(provisional_line(int(batch.model.get("positives") or 0)))
    table = PlainTable(title="Proposals ranked by probability of real impact", title_justify="left",
                       show_lines=True)
    for column, justify in (("#", "right"), ("proposal", "left"), ("partner", "left"),
                            ("impact", "right"), (_level_name(batch), "right"),
                            ("grade", "center"), ("for (points)", "left"),
                            ("against (points)", "left"), ("flags", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for p in batch.ranked():
        mark = " *" if p.within_capacity else ""
        table.add_row(f"{p.rank}{mark}", str(p.proposal_id), str(p.partner_name or ""),
                      percent_text(p.impact_probability), interval_text(p.impact_interval),
                      _grade_cell(p), _short(p.reasons_for, 3), _short(p.reasons_against, 3),
                      "\n".join(f"{FLAG_WORDS.get(f['kind'], f['kind'])}: "
                                f"{batch.labels.get(f['feature'], f['feature'])}"
                                for f in p.flags))
    out.print(table)
    if any(grade_range_text(p.grade_interval) for p in batch.proposals):
        out.print(f"Grade: at the probability; beneath it, the grades the {_level_name(batch)} "
                  "spans (the grade the proposal could have).")
    rate = ("" if batch.training_rate is None
            else f"; {batch.training_rate:.0%} of them had real impact")
    out.print(f"Base probability {100 * batch.base_probability:.1f}% (at the training "
              f"proposals' average log-odds{rate}); points are percentage points from it. "
              f"Scored by {note}.", markup=False)
    if batch.capacity:
        c = batch.capacity
        low, high = c["impactful_range"]
        out.print(f"Capacity {c['capacity']}: the top {c['selected']} (marked *) are expected to "
                  f"give {c['expected_impactful']:.1f} impactful partnerships, between {low} and "
                  f"{high} in 90% of cases (the model's uncertainty and chance together).")


__all__ = ["contract_report", "ranked_table", "reason_text", "training_summary"]

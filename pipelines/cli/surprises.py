"""`partnerscore surprises` and the weak-signal lines of `retrain`: improbable alliances in text.

The text ranks the cells strongest first, marks the strong ones, and says how many
cells were tested and what "by chance" means, so that one striking cell among hundreds
is read for what it is. `--format json` writes the computation's document as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from model.config import Config
from model.errors import ReportRefused, TrainingRefused
from model.pairs import pair_name
from model.surprises import Cell
from model.validation import ContractError
from pipelines.cli.console import out
from pipelines.jobs.surprises import OWN_CHANCE, WeakSignals
from pipelines.report.weak_signals import (
    SHOWN_BETTER,
    SHOWN_WORSE,
    cell_sentence,
    chance_paragraph,
    shown_cells,
)
from pipelines.settings import Workspace

RETRAIN_SHOWN = 5  # cells listed after a retrain; `partnerscore surprises` lists the rest


def _section(title: str, cells: tuple[Cell, ...], limit: int, signals: WeakSignals) -> list[str]:
    shown = shown_cells(cells, limit)
    lines = ["", f"{title} ({len(cells)} cells, strongest first)"]
    lines += [f"{i:>3}. {'STRONG ' if c.strong else ''}{cell_sentence(c, signals)}"
              for i, c in enumerate(shown, 1)]
    if not cells:
        lines.append("  none")
    elif len(shown) < len(cells):
        lines.append(f"  ... {len(cells) - len(shown)} more: --format json lists every cell")
    return lines


def surprises_text(signals: WeakSignals, labels: Mapping[str, str] | None = None) -> list[str]:
    """The report as lines: what was tested and what chance means, better cells, then worse
    (`labels`: the configuration's words for columns and pairs, `Config.feature_labels`)."""
    report = signals.report
    if report is None:
        return [f"No weak-signal report from {signals.source}: {signals.refused}"]
    labels = labels or {}
    pairs = "; ".join(labels.get(name, name) for name in map(pair_name, signals.settings.pairs))
    lines = ["Weak signals: pairs of values whose outcomes beat, or fall short of, the model's "
             "expectations",
             f"Watched pairs (interactions in the configuration): {pairs}."]
    if report.tested == 0:
        lines.append(f"No cell has {signals.settings.min_rows} proposals or more among the "
                     f"{signals.rows} labelled proposals ({signals.source}): nothing was tested "
                     "(label more periods, or lower surprises.min_rows).")
        return lines
    lines.append(chance_paragraph(signals))
    strong = len(report.strong) + sum(c.strong for c in report.worse)
    lines.append(f"{strong} strong cell{'s' * (strong != 1)} among {report.tested} tested.")
    lines += _section("Better than expected", report.cells, SHOWN_BETTER, signals)
    lines += _section("Worse than expected", report.worse, SHOWN_WORSE, signals)
    return lines


def retrain_lines(signals: WeakSignals | None) -> list[str]:
    """`retrain`'s brief "Weak signals this period": strong cells, then cells worth watching."""
    if signals is None:
        return []
    head = "Weak signals this period"
    if signals.report is None:
        return [f"{head}: none computed ({signals.refused})"]
    tested, watched = signals.report.tested, signals.watched()
    lines = [f"{head} (the whole store with it: {tested} cells tested in {signals.rows} labelled "
             "proposals; details: partnerscore surprises):"]
    lines += [f"  {'STRONG' if c.strong else 'watch'}, "
              f"{'better' if c.observed >= c.expected else 'worse'} than expected: "
              f"{cell_sentence(c, signals)}" for c in watched[:RETRAIN_SHOWN]]
    if not watched:
        lines.append(f"  none: no cell is both rare among the {tested} tested (fewer than one "
                     f"cell this strong expected by chance) and unlikely on its own (under "
                     f"{OWN_CHANCE:.0%})")
    return lines


def print_lines(lines: list[str]) -> None:
    """Print plain lines, never wrapped nor read as markup (cells hold brackets and long text)."""
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def surprises_command(workspace: Workspace, config: Config, files: list[Path], *, seed: int,
                      output_format: str) -> None:
    """`partnerscore surprises`: the weak-signal report of labelled files or the store.

    Raises:
        ContractError: a bad option or file, or no labelled outcomes anywhere.
        ReportRefused: outcomes of one kind only, or too few of either (as `train`).
    """
    import pandas as pd

    from pipelines.cli.commands import load_training_data
    from pipelines.jobs.surprises import computed_and_kept, find_weak_signals, kept_weak_signals

    # The store's report as `retrain` or an earlier call left it, while it still holds.
    signals = None if files else kept_weak_signals(workspace, config, seed)
    if signals is None or signals.report is None:
        def compute() -> WeakSignals:
            try:
                proposals, source = load_training_data(workspace, config, files)
            except ContractError as exc:
                if exc.source != "train":  # a file's problems keep the file's name
                    raise
                raise ContractError(exc.problems, source="surprises") from None
            assert isinstance(proposals, pd.DataFrame)
            try:
                return find_weak_signals(proposals, config, source, seed=seed)
            except TrainingRefused as exc:  # said of the report, not of a training
                raise ReportRefused(str(exc)) from None
        signals = compute() if files else computed_and_kept(workspace, config, seed, compute)
    if output_format == "json":
        from pipelines.cli.console import write_stdout

        write_stdout(json.dumps(signals.to_json(), indent=2, allow_nan=False) + "\n")
    else:
        print_lines(surprises_text(signals, config.feature_labels))

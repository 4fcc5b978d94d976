"""Weak signals in words: improbable alliances as the terminal and the model report show them.

One sentence per cell ("Video games × technical integration: 9 of 20 with real impact
where 3.1 were expected (2.9×, 90% interval 1.5–5.0); about 0.04 cells would look this
strong by chance among 214 tested"), the paragraph that says what "by chance" means
when hundreds of cells are tested, and the model report's "Weak signals" section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.pairs import recorded_label
from model.surprises import Cell
from pipelines.report.page import esc, table

if TYPE_CHECKING:
    from pipelines.jobs.surprises import WeakSignals

SHOWN_BETTER = 10  # cells listed per section beyond the strong ones; JSON lists them all
SHOWN_WORSE = 5


def cell_values_words(cell: Cell) -> str:
    """'Video games × technical integration': the values by their labels when the cell
    carries them (a report kept by an earlier version does not), as reasons word a cell."""
    return recorded_label(cell.value_labels, cell.values)


def pair_words(cell: Cell) -> str:
    """'Video games × technical integration (Partner sector × Partnership type)'."""
    return f"{cell_values_words(cell)} ({' × '.join(cell.labels or cell.features)})"


def chance_words(expected_by_chance: float) -> str:
    """How many cells chance alone would bring this far: 'about 0.04', 'about 12', 'fewer than 0.01'."""
    if expected_by_chance < 0.005:
        return "fewer than 0.01"
    shown = f"{expected_by_chance:.0f}" if expected_by_chance >= 10 else f"{expected_by_chance:.2g}"
    return f"about {shown}"


def chance_cells(expected_by_chance: float) -> str:
    """'about 1 cell', 'about 0.76 cells', 'fewer than 0.01 cells'."""
    words = chance_words(expected_by_chance)
    return f"{words} cell{'' if words == 'about 1' else 's'}"


def cell_sentence(cell: Cell, signals: WeakSignals) -> str:
    """One cell in words, its chance among every cell tested included."""
    tested, level = signals.report.tested if signals.report else 0, signals.settings.interval
    if signals.weighted:
        counts = (f"{cell.observed:.1f} weighted real impacts from {cell.rows} proposals where "
                  f"{cell.expected:.1f} were expected")
    else:
        counts = (f"{round(cell.observed)} of {cell.rows} with real impact where "
                  f"{cell.expected:.1f} were expected")
    low, high = cell.interval
    return (f"{pair_words(cell)}: {counts} ({cell.ratio:.1f}×, {level:.0%} interval "
            f"{low:.1f}–{high:.1f}); {chance_cells(cell.expected_by_chance)} would "
            f"look this strong by chance among {tested} tested")


def chance_paragraph(signals: WeakSignals) -> str:
    """What the figures mean, and why a striking cell may still be chance."""
    settings, tested = signals.settings, signals.report.tested if signals.report else 0
    weighting = (" Figures are weighted by 1 / acceptance propensity, as if every proposal had "
                 "been accepted." if signals.weighted else "")
    return (f"{tested} cells tested: pairs of values with at least {settings.min_rows} proposals "
            f"in {signals.rows} labelled proposals ({signals.source}). Each cell's expected count "
            "comes from a model with one effect per feature, scored out of fold. \"By chance\" is "
            f"how many of the {tested} tested cells, better or worse, would look at least this "
            "strong if every proposal had exactly its expected chance of real impact: with this "
            "many cells some look striking by chance alone. Strong cells are called at a "
            f"{settings.false_alarm_rate:.0%} false-alarm rate (Benjamini-Hochberg): about "
            f"{settings.false_alarm_rate:.0%} of strong calls may still be chance. A cell that is "
            "not strong is a lead to check, not a finding." + weighting)


def shown_cells(cells: tuple[Cell, ...], limit: int) -> tuple[Cell, ...]:
    """The strong cells and the first `limit` cells, strongest first."""
    return tuple(c for i, c in enumerate(cells) if c.strong or i < limit)


def _rows(cells: tuple[Cell, ...], signals: WeakSignals) -> list[list[str]]:
    level = f"{signals.settings.interval:.0%}"
    return [[esc(cell_values_words(c)),
             esc(" × ".join(c.labels or c.features)), str(c.rows),
             f"{c.observed:.1f}" if signals.weighted else str(round(c.observed)),
             f"{c.expected:.1f}", esc(f"{c.ratio:.1f}× ({level} {c.interval[0]:.1f}–"
                                      f"{c.interval[1]:.1f})"),
             esc(chance_words(c.expected_by_chance).removeprefix("about ")),
             "strong" if c.strong else ""]
            for c in cells]


def _table(title: str, cells: tuple[Cell, ...], limit: int, signals: WeakSignals) -> str:
    shown = shown_cells(cells, limit)
    if not shown:
        return f"<h3>{esc(title)}</h3><p class=note>No cell.</p>"
    more = (f"<p>{len(shown)} of {len(cells)} shown; <code>partnerscore surprises --format json"
            "</code> lists them all.</p>" if len(shown) < len(cells) else "")
    headers = ["Values", "Features", "Proposals", "Real impact", "Expected", "Ratio (interval)",
               "Cells this strong by chance", ""]
    return (f"<h3>{esc(title)}</h3>" + table(headers, _rows(shown, signals), numeric=(2, 3, 4, 6),
                                            cls="weak-signals") + more)


def _missing(signals: WeakSignals | None) -> str:
    if signals is not None:
        return (f"<p class=note id=no-weak-signals>No weak-signal report from {esc(signals.source)}:"
                f" {esc(signals.refused)}.</p>")
    return ("<p class=note id=no-weak-signals>No labelled outcomes were found for this report. "
            "Pass <code>--data FILE</code> with labelled outcomes, or ingest trial periods into the "
            "workspace's store (<code>partnerscore ingest FILE</code>), to list the pairs of values "
            "whose outcomes beat what the model expects; <code>partnerscore surprises</code> gives "
            "the same list in the terminal.</p>")


def cell_evidence(signals: WeakSignals | None) -> dict[tuple[tuple[str, ...], tuple[str, ...]], str]:
    """For each tested cell, keyed by (features, values): its ratio and chance in words."""
    if signals is None or signals.report is None:
        return {}
    report = signals.report
    return {(tuple(c.features), tuple(c.values)):
            f"{c.ratio:.1f}× expected; {chance_cells(c.expected_by_chance)} this strong "
            f"by chance{' (strong)' if c.strong else ''}"
            for c in (*report.cells, *report.worse)}


def weak_signals_section(signals: WeakSignals | None) -> str:
    """The model report's "Weak signals" section, or a note saying how to get it."""
    head = ("<section id=weak-signals><h2>Weak signals: improbable alliances</h2>"
            "<p>Pairs of values (a partner sector with a partnership type, ...) whose real impact "
            "beats what the scoring model, which learns one effect per feature, expects.</p>")
    if signals is not None and signals.note:
        head += f"<p class=warning id=weak-signals-source>{esc(signals.note)}</p>"
    if signals is None or signals.report is None:
        return head + _missing(signals) + "</section>"
    report = signals.report
    return (head + f"<p>{esc(chance_paragraph(signals))}</p>"
            + _table("Better than expected", report.cells, SHOWN_BETTER, signals)
            + _table("Worse than expected", report.worse, SHOWN_WORSE, signals) + "</section>")

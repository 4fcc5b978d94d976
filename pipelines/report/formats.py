"""Rendering scored proposals: JSON, JSON Lines, CSV, XLSX and the terminal table.

Spreadsheet exports never carry formulas: a text cell from user data that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with an apostrophe,
which spreadsheet programs show as text. Numbers stay numbers. XLSX cannot hold
most control characters (nor U+FFFE, U+FFFF); they are shown as U+FFFD there.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from model.wording import flag_text, reason_text
from pipelines.documents import ScoredBatch

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot hold: openpyxl refuses some and writes others into a broken file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# impact_low and impact_high bound impact_probability (empty cells: the model gives no
# interval), grade_low and grade_high are their grades (the grades the proposal could have
# within its interval); provisional is true on every row when the model learned from too
# few outcomes.
COLUMNS = ("rank", "proposal_id", "partner_name", "impact_probability", "impact_low",
           "impact_high", "score", "grade", "grade_low", "grade_high", "reasons_for",
           "reasons_against", "flags", "provisional")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made inert; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def flat_rows(batch: ScoredBatch) -> list[dict[str, Any]]:
    """One flat row per proposal, best first, reasons as readable text."""
    rows = []
    for p in batch.ranked():
        low, high = p.impact_interval or (None, None)
        grade_low, grade_high = p.grade_interval or (None, None)
        row = {"rank": p.rank, "proposal_id": p.proposal_id, "partner_name": p.partner_name,
               "impact_probability": p.impact_probability, "impact_low": low, "impact_high": high,
               "score": p.score, "grade": p.grade, "grade_low": grade_low,
               "grade_high": grade_high, "reasons_for": reason_text(p.reasons_for),
               "reasons_against": reason_text(p.reasons_against), "flags": flag_text(p.flags),
               "provisional": batch.provisional}
        if p.within_capacity is not None:
            row["within_capacity"] = p.within_capacity
        rows.append(row)
    return rows


def to_json(batch: ScoredBatch) -> bytes:
    """The `--format json` document."""
    return (json.dumps(batch.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def to_jsonl(batch: ScoredBatch) -> bytes:
    """One proposal object per line, each saying whether the model is provisional (as every
    CSV row does: a line read alone must not lose it)."""
    lines = [json.dumps({**p.to_json(), "provisional": batch.provisional}, ensure_ascii=False)
             for p in batch.proposals]
    return ("\n".join(lines) + "\n").encode("utf-8")


def to_csv(batch: ScoredBatch) -> bytes:
    """CSV with formula-leading text neutralised; lines end with CRLF (RFC 4180)."""
    rows = flat_rows(batch)
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else list(COLUMNS)
    # the writer quotes only cells holding a character of the line terminator: with "\n"
    # alone, a carriage return inside a partner name would be written bare and split the row
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def _xlsx_text(value: Any) -> Any:
    """A value an XLSX cell can hold: characters XML cannot carry replaced (not dropped,
    which could leave a formula-leading text behind), then neutralised."""
    if isinstance(value, str):
        value = _NOT_XML.sub("\ufffd", value)
    return neutralise(value)


PERCENT_FIELDS = ("impact_probability", "impact_low", "impact_high")
WIDE_FIELDS = ("partner_name", "reasons_for", "reasons_against", "flags")


def _present(sheet: Any, fields: list[str]) -> None:
    """What a spreadsheet reader expects: the header frozen, probabilities as percentages
    (the cells keep their exact values), room for the reasons."""
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    for j, field in enumerate(fields, 1):
        letter = get_column_letter(j)
        if field in PERCENT_FIELDS:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "0.0%"
        sheet.column_dimensions[letter].width = 60 if field in WIDE_FIELDS[1:] else (
            28 if field in WIDE_FIELDS else 14)


def _about(batch: ScoredBatch) -> list[tuple[str, Any]]:
    """The second sheet: which model scored, from what, and how to read the points."""
    model = batch.model
    periods = model.get("periods") or []
    return [("model", model.get("name")), ("version", model.get("version")),
            ("model address", model.get("uri")),
            ("trained on", f"{periods[0]} to {periods[-1]}" if periods else ""),
            ("labelled proposals", model.get("rows")),
            ("with real impact", model.get("positives")),
            ("provisional", "yes" if batch.provisional else "no"),
            ("base probability", batch.base_probability),
            *([("grade_low, grade_high", "the grades at the ends of the probability's "
                                         "interval: the grades the proposal could have")]
              if model.get("interval_level") else []),
            ("reasons", "points are percentage points from the base probability")]


def _append(sheet: Any, values: list[Any]) -> None:
    """A row of cells, every text written as a string: openpyxl would otherwise treat a
    leading "=" as a formula."""
    sheet.append([_xlsx_text(value) for value in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def to_xlsx(batch: ScoredBatch) -> bytes:
    """An XLSX workbook; every text cell is written as a string, never as a formula."""
    from openpyxl import Workbook

    rows = flat_rows(batch)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "scores"
    fields = list(rows[0]) if rows else list(COLUMNS)
    sheet.append(fields)
    for row in rows:
        _append(sheet, [row[f] for f in fields])
    _present(sheet, fields)
    about = book.create_sheet("model")
    for name, value in _about(batch):
        _append(about, [name, value])
        if name == "base probability":
            about.cell(about.max_row, 2).number_format = "0.0%"
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 60
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


RENDERERS = {"json": to_json, "jsonl": to_jsonl, "csv": to_csv, "xlsx": to_xlsx}

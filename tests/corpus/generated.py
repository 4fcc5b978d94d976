"""Malformed inputs that are binary or large, built at test time instead of committed.

`BUILDERS` maps a corpus file name (as listed in `cases.json` with `"build": true`)
to a function returning the file's bytes. Everything is deterministic.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

HEADER = ["proposal_id", "partner_name", "partnership_type", "partner_sector", "sector_proximity",
          "lifecycle_position", "has_clear_objective", "has_action_plan", "product_ready",
          "partner_committed_fte", "strategy_fit"]
LABELLED = ["trial_period", "real_impact"]


def row(number: int, **values: Any) -> list[Any]:
    """One valid proposal to score, as typed spreadsheet cells, with `values` replaced."""
    cells: dict[str, Any] = {
        "proposal_id": f"p{number}", "partner_name": "Acme", "partnership_type": "referral",
        "partner_sector": "hr_tech", "sector_proximity": "adjacent",
        "lifecycle_position": "upstream", "has_clear_objective": True, "has_action_plan": "yes",
        "product_ready": False, "partner_committed_fte": 0.5, "strategy_fit": 4,
        "trial_period": "2026-03", "real_impact": 0,
    }
    cells.update(values)
    return [cells[name] for name in HEADER + [n for n in LABELLED if n in values]]


def workbook(sheets: dict[str, list[list[Any]]], edit: Callable[[Any], None] | None = None) -> bytes:
    """An XLSX file with these sheets (first one first); `edit` may change the first sheet."""
    book = openpyxl.Workbook()
    book.remove(book.worksheets[0])
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for cells in rows:
            sheet.append(cells)
    if edit is not None:
        edit(book.worksheets[0])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def edit_parts(data: bytes, edits: dict[str, Callable[[bytes], bytes]]) -> bytes:
    """The same zip archive with members rewritten by `edits` (missing members are added)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts.update({name: edit(parts.get(name, b"")) for name, edit in edits.items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return buffer.getvalue()


def replace_part(data: bytes, part: str, content: bytes) -> bytes:
    """The same zip archive with one member's content replaced."""
    return edit_parts(data, {part: lambda _: content})


def proposals_sheet(rows: int = 3) -> list[list[Any]]:
    """Header plus `rows` valid proposals."""
    return [HEADER, *[row(i) for i in range(1, rows + 1)]]


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>\n")


def entity_bomb(part: str) -> bytes:
    """Billion laughs in one XML part of an otherwise valid workbook."""
    if part.startswith("xl/worksheets/"):
        body = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
                b"</sheetData></worksheet>")
    else:
        body = b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol9;</workbook>'
    return replace_part(workbook({"Proposals": proposals_sheet()}), part, LAUGHS + body)


def shared_strings_bomb() -> bytes:
    """Billion laughs in a shared-strings table that cell B2 really uses."""
    main = b"http://schemas.openxmlformats.org/"
    table = LAUGHS + (b'<sst xmlns="' + main + b'spreadsheetml/2006/main" count="1" uniqueCount="1">'
                      b"<si><t>&lol9;</t></si></sst>")
    override = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>')
    relation = (b'<Relationship Type="' + main + b'officeDocument/2006/relationships/sharedStrings" '
                b'Target="sharedStrings.xml" Id="rId9" /></Relationships>')
    return edit_parts(workbook({"Proposals": proposals_sheet()}), {
        "xl/sharedStrings.xml": lambda _: table,
        "[Content_Types].xml": lambda xml: xml.replace(b"</Types>", override),
        "xl/_rels/workbook.xml.rels": lambda xml: xml.replace(b"</Relationships>", relation),
        "xl/worksheets/sheet1.xml": lambda xml: xml.replace(
            b'<c r="B2" t="inlineStr"><is><t>Acme</t></is></c>', b'<c r="B2" t="s"><v>0</v></c>'),
    })


def zip_bomb() -> bytes:
    """A small workbook whose sheet inflates to 30 MB of blank XML."""
    sheet = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b"<sheetData>" + b" " * 30_000_000 + b"</sheetData></worksheet>")
    return replace_part(workbook({"Proposals": proposals_sheet()}), "xl/worksheets/sheet1.xml", sheet)


def merged(sheet: Any) -> None:
    """partnership_type merged down rows 2-4, partner_name across B3:C3."""
    sheet.merge_cells("C2:C4")
    sheet.merge_cells("B5:C5")


def parquet(columns: dict[str, Any]) -> bytes:
    """A Parquet file holding these columns."""
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _valid_columns(count: int) -> dict[str, list[Any]]:
    columns = list(zip(*proposals_sheet(count)[1:], strict=True))
    return {name: [str(v) for v in values] for name, values in zip(HEADER, columns, strict=True)}


def csv_bytes(rows: list[list[Any]]) -> bytes:
    """Rows as a plain comma-separated file."""
    return "".join(",".join(str(c) for c in cells) + "\n" for cells in rows).encode()


BUILDERS: dict[str, Callable[[], bytes]] = {
    "xlsx_renamed.csv": lambda: workbook({"Proposals": proposals_sheet()}),
    "not_a_zip.xlsx": lambda: csv_bytes(proposals_sheet()),
    "truncated.xlsx": lambda: workbook({"Proposals": proposals_sheet()})[:1500],
    "empty_first_sheet.xlsx": lambda: workbook({"Sheet1": [], "Proposals": proposals_sheet()}),
    "notes_sheet_first.xlsx": lambda: workbook({
        "Read me": [["How to fill in this workbook"], ["One proposal per row, see Proposals"]],
        "Proposals": proposals_sheet()}),
    "missing_sheet.xlsx": lambda: workbook({"Proposals": proposals_sheet()}),
    "merged_cells.xlsx": lambda: workbook({"Proposals": proposals_sheet(4)}, merged),
    "formulas_without_values.xlsx": lambda: workbook({"Proposals": [
        HEADER, row(1, strategy_fit="=2+2"), row(2, has_action_plan="=TRUE()"),
        row(3, product_ready="maybe"), row(4, partner_committed_fte="=B2*2")]}),
    "typed_cells.xlsx": lambda: workbook({"Proposals": [
        HEADER + LABELLED, row(1, trial_period=datetime(2026, 3, 1), real_impact=1),
        row(2, partner_committed_fte=datetime(2026, 3, 1), trial_period="2026-03", real_impact=0),
        row(3, strategy_fit=True, trial_period="2026-04", real_impact=True),
        row(4, strategy_fit=4.5, trial_period=202604, real_impact=2)]}),
    "error_cells.xlsx": lambda: workbook({"Proposals": [
        HEADER, row(1, partner_committed_fte="#DIV/0!"), row(2, partnership_type="#N/A"),
        row(3, strategy_fit="#REF!")]}),
    "entity_bomb_sheet.xlsx": lambda: entity_bomb("xl/worksheets/sheet1.xml"),
    "entity_bomb_workbook.xlsx": lambda: entity_bomb("xl/workbook.xml"),
    "entity_bomb_styles.xlsx": lambda: entity_bomb("xl/styles.xml"),
    "entity_bomb_shared_strings.xlsx": shared_strings_bomb,
    "zip_bomb.xlsx": zip_bomb,
    "nested_column.parquet": lambda: parquet({
        **_valid_columns(2), "partner_sector": [["hr", "tech"], ["legal"]]}),
    "truncated.parquet": lambda: parquet(_valid_columns(3))[:-40],
    "overlong_field.csv": lambda: csv_bytes(
        [HEADER, row(1), row(2, partner_name="A" * 200_000), row(3)]),
    "sheet_named_for_csv.csv": lambda: csv_bytes(proposals_sheet()),
    "over_the_size_limit.csv": lambda: csv_bytes(proposals_sheet(40)),
}

"""Reading every supported format into the raw frame, bad files, and atomic writes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import WriteCsv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.config import Config
from model.validation import ContractError, Problem
from pipelines.storage.atomic import write_atomic
from pipelines.storage.readers import load_proposals, read_table

Rows = list[dict[str, str]]


def problems_of(source: str | Path, config: Config, labelled: bool = True) -> list[Problem]:
    with pytest.raises(ContractError) as caught:
        load_proposals(source, config, labelled=labelled)
    assert caught.value.source == ("<stdin>" if str(source) == "-" else str(source))
    return caught.value.problems


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.worksheets[0])
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def as_lists(rows: Rows) -> list[list[Any]]:
    return [list(rows[0]), *[list(r.values()) for r in rows]]


# --- formats -----------------------------------------------------------------------


def test_csv_comma(proposals: Rows, config: Config, write_csv: WriteCsv) -> None:
    typed = load_proposals(write_csv(proposals), config, labelled=True)
    assert list(typed.index) == [2, 3, 4]
    assert typed["partnership_type"].tolist() == ["influencer", "co_branding", "influencer"]


def test_csv_semicolon_decimal_comma(proposals: Rows, config: Config, write_csv: WriteCsv) -> None:
    rows = [{**r, "partner_committed_fte": "0,5"} for r in proposals]
    typed = load_proposals(write_csv(rows, delimiter=";"), config, labelled=True)
    assert typed["partner_committed_fte"].tolist() == [0.5, 0.5, 0.5]


def test_csv_bom_and_header_spelling(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf Proposal_ID ,Partner_Name\np1,Soci\xc3\xa9t\xc3\xa9\n")
    raw = read_table(path)
    assert list(raw.columns) == ["proposal_id", "partner_name"]
    assert raw.loc[2, "partner_name"] == "Société"


def test_csv_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("proposal_id;partner_name\np1;Société\n".encode("cp1252"))
    assert read_table(path).loc[2, "partner_name"] == "Société"


def test_csv_blank_lines_keep_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("proposal_id,partner_name\np1,a\n\n,\np2, b \n")
    raw = read_table(path)
    assert list(raw.index) == [2, 5]
    assert raw.loc[5, "partner_name"] == "b"


def test_xlsx_first_and_named_sheet(proposals: Rows, config: Config, tmp_path: Path) -> None:
    other: list[list[Any]] = [["proposal_id", "partner_name"], ["x1", "Other"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"Scores": as_lists(proposals), "Other": other})
    assert load_proposals(path, config, labelled=True)["proposal_id"].tolist() == ["p1", "p2", "p3"]
    assert read_table(path, sheet="Other")["partner_name"].tolist() == ["Other"]


def test_xlsx_typed_cells_become_text(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["a", "b", "c", "d"], [True, 3.0, 0.25, datetime(2026, 3, 1)]]
    raw = read_table(write_xlsx(tmp_path / "typed.xlsx", {"S": rows}))
    assert raw.loc[2].tolist() == ["true", "3", "0.25", "2026-03-01"]


def test_xlsx_missing_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {"Scores": [["a"], ["1"]]})
    with pytest.raises(ContractError, match="one of the sheets Scores"):
        read_table(path, sheet="Nope")


def test_xlsx_formula_without_saved_result(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["proposal_id", "strategy_fit"], ["p1", "=1+1"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"S": rows})
    with pytest.raises(ContractError) as caught:
        read_table(path)
    [problem] = caught.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "strategy_fit", "=1+1")
    assert "no saved result" in problem.expected


def test_xlsx_entity_expansion_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {"S": [["proposal_id"], ["p1"]]})
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row>'
            b"</sheetData></worksheet>")
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(path, "w") as target:
        for name, content in parts.items():
            target.writestr(name, bomb if name == "xl/worksheets/sheet1.xml" else content)
    with pytest.raises(ContractError, match="EntitiesForbidden"):
        read_table(path)


def test_parquet(proposals: Rows, config: Config, tmp_path: Path) -> None:
    columns = {k: [r[k] for r in proposals] for k in proposals[0]}
    columns["partner_headcount"] = [120, None, 7]  # type: ignore[list-item]
    columns["inbound"] = [True, False, None]  # type: ignore[list-item]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table(columns), path)
    raw = read_table(path)
    assert raw["partner_headcount"].tolist() == ["120", None, "7"]
    assert raw["inbound"].tolist() == ["true", "false", None]
    assert list(raw.index) == [1, 2, 3]
    assert len(load_proposals(path, config, labelled=False)) == 3


def test_json_array(proposals: Rows, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{**r, "partner_headcount": 12, "product_ready": True}
                                for r in proposals]))
    typed = load_proposals(path, config, labelled=True)
    assert list(typed.index) == [1, 2, 3]
    assert typed["partner_headcount"].tolist() == [12.0] * 3


def test_jsonl_rows_are_line_numbers(proposals: Rows, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(f"{json.dumps(proposals[0])}\n\n{json.dumps(proposals[1])}\n")
    assert list(load_proposals(path, config, labelled=True).index) == [1, 3]


def test_stdin_json(proposals: Rows, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(json.dumps(proposals).encode())

    monkeypatch.setattr("sys.stdin", Stdin())
    assert load_proposals("-", config, labelled=True)["proposal_id"].tolist() == ["p1", "p2", "p3"]


def test_unknown_extension_is_sniffed(proposals: Rows, tmp_path: Path) -> None:
    (tmp_path / "a.data").write_text(json.dumps(proposals[0], indent=2))
    (tmp_path / "b.data").write_text("proposal_id;partner_name\np1;x\n")
    assert read_table(tmp_path / "a.data")["proposal_id"].tolist() == ["p1"]
    assert read_table(tmp_path / "b.data")["partner_name"].tolist() == ["x"]


# --- bad files -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", b"\xef\xbb\xbf \n\n", "the file is empty"),
    ("binary.csv", bytes(range(256)) * 4, "not a text file"),
    ("book.csv", b"PK\x03\x04rest", "not a text file"),
    ("object.json", b'{"proposal_id": "p1"}', "a JSON array of objects"),
    ("broken.json", b'[{"proposal_id": "p1",}]', "valid JSON"),
    ("numbers.json", b"[1, 2]", "a JSON object"),
    ("broken.jsonl", b'{"a": 1}\n{oops\n', "valid JSON"),
    ("fake.xlsx", b"not a zip", "an XLSX workbook"),
    ("fake.parquet", b"not parquet", "a readable Parquet file"),
])
def test_unreadable_file(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ContractError, match=expected) as caught:
        read_table(path)
    assert caught.value.source == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as caught:
        read_table(tmp_path / "nope.csv")
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (None, None)
    assert "No such file" in problem.expected


def test_file_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("proposal_id\n" + "p\n" * 100)
    with pytest.raises(ContractError, match="at most 50 bytes"):
        read_table(path, max_bytes=50)


def test_nested_json_value_names_record_and_key(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"proposal_id": "p1"}, {"proposal_id": {"id": 2}}]))
    with pytest.raises(ContractError) as caught:
        read_table(path)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (2, "proposal_id")
    assert "not a nested object" in problem.expected


def test_duplicate_header_and_overlong_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("proposal_id,Proposal_ID\np1,p2\np3,p4,extra\n")
    with pytest.raises(ContractError) as caught:
        read_table(path)
    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "proposal_id"), (3, None)]


def test_header_only(proposals: Rows, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(",".join(proposals[0]) + "\n")
    [problem] = problems_of(path, config)
    assert "no rows" in str(problem)


def test_all_errors_reported_with_spreadsheet_rows(
    proposals: Rows, config: Config, write_csv: WriteCsv
) -> None:
    rows = [proposals[0], {**proposals[1], "has_action_plan": "maybe"}, proposals[2],
            {**proposals[0], "proposal_id": "p4", "sector_proximity": "far"}]
    found = [(p.row, p.column) for p in problems_of(write_csv(rows), config)]
    assert found == [(3, "has_action_plan"), (5, "sector_proximity")]


# --- robustness ----------------------------------------------------------------------

CELL = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # surrogates: not UTF-8
QUICK = settings(max_examples=100, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@QUICK
@given(cells=st.lists(st.lists(CELL, min_size=13, max_size=13), min_size=1, max_size=3))
def test_any_text_gives_a_frame_or_a_contract_error(
    cells: list[list[str]], proposals: Rows, config: Config, write_csv: WriteCsv
) -> None:
    rows = [dict(zip(proposals[0], row, strict=True)) for row in cells]
    with contextlib.suppress(ContractError):
        load_proposals(write_csv(rows), config, labelled=True)


@QUICK
@given(content=st.binary(max_size=200),
       suffix=st.sampled_from([".csv", ".json", ".jsonl", ".xlsx", ".parquet", ".bin"]))
def test_any_bytes_give_a_frame_or_a_contract_error(
    content: bytes, suffix: str, config: Config, tmp_path: Path
) -> None:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(content)
    with contextlib.suppress(ContractError):
        load_proposals(path, config, labelled=False)


# --- atomic writes -------------------------------------------------------------------


def test_write_atomic_new_file_follows_umask(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    old = os.umask(0o022)
    try:
        write_atomic(path, b"data")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_atomic_replaces_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_atomic(path, b"one")
    os.chmod(path, 0o640)
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]

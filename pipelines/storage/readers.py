"""Reading proposal files into the raw all-strings frame, and writing files atomically.

Every reader produces the same thing: a frame of stripped text or None, with
normalised header names, whose index is the row number a user would look for
(the spreadsheet row for CSV and XLSX, the line for JSON Lines, the record number
for JSON and Parquet). Anything unreadable raises `ContractError`, never a crash.

XLSX safety: openpyxl parses its XML through defusedxml whenever that package is
installed (`openpyxl.DEFUSEDXML`); we refuse to read workbooks when it is not, and
check the archive's uncompressed size before opening it.

Size limit: an input may hold at most `MAX_BYTES` (200 MB); the environment
variable `PARTNERSCORE_MAX_INPUT_BYTES` (a whole number of bytes) sets another
limit. Larger files are refused before they are read, standard input is read no
further than the limit, and an XLSX archive may inflate to 10 times the limit.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import math
import os
import re
import reprlib
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from model.config import Config, ConfigError
from model.validation import ContractError, Problem, validate_frame

MAX_BYTES = 200_000_000
MAX_BYTES_ENV = "PARTNERSCORE_MAX_INPUT_BYTES"
_XLSX_EXPANSION = 10  # sheet XML is verbose: allow this much uncompressed per byte of budget
_SUFFIXES = {
    ".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
_MAGIC = {b"PK\x03\x04": "an XLSX workbook (use the .xlsx extension)",
          b"PAR1": "a Parquet file (use the .parquet extension)"}
_SINGLE_VALUE = "a single text, number, boolean or date value"
_KINDS: dict[type, str] = {dict: "a nested object", list: "a list", bytes: "binary data"}
_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string", int: "number",
                                float: "number", bool: "boolean", type(None): "null"}
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OTHER_DELIMITERS = {"\t": "tab", "|": "pipe"}
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON escapes can make them; no output can encode them

Record = tuple[int, list[Any]]  # row number to report, cells in header order


@dataclass
class _Sheet:
    """What a format reader found: header cells, records, the header's own row, and the
    records it could not read (reported with the cells' problems)."""

    header: list[Any]
    records: list[Record]
    header_row: int | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _FormulaWithoutResult:
    """An XLSX cell whose formula was never calculated and saved."""

    formula: str


class _BadCell(Exception):
    """A cell value that cannot become text; args are (value shown, expected)."""


def _fail(expected: str, value: str = "", row: int | None = None) -> ContractError:
    return ContractError([Problem(row, None, value, expected)])


def _reason(exc: BaseException) -> str:
    """The root cause, which libraries often wrap in a vaguer error."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return f"{type(exc).__name__}: {exc}"


def _cell(value: Any) -> str | None:
    """One cell of any format as stripped text, or None when empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() and _SURROGATE.search(text):
            raise _BadCell(text.encode("utf-8", "backslashreplace").decode("utf-8"),
                           "valid Unicode text (an unpaired surrogate such as \\ud800 is not)")
        return text or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime) and value.time() == time() and value.tzinfo is None:
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, _FormulaWithoutResult):
        raise _BadCell(value.formula, "a value: the formula has no saved result "
                       "(open and save the file in Excel, or paste values)")
    kind = _KINDS.get(type(value), f"a {type(value).__name__}")
    raise _BadCell(reprlib.repr(value), f"{_SINGLE_VALUE}, not {kind}")


def _header_name(value: Any) -> str:
    try:
        text = _cell(value) or ""
    except _BadCell:
        text = ""  # an unreadable header cell names no column we know
    return text.removeprefix("\ufeff").strip().lower()


def _header(sheet: _Sheet, problems: list[Problem]) -> list[str]:
    names = [_header_name(v) for v in sheet.header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            problems.append(Problem(sheet.header_row, name, name, "each column name only once"))
        seen.add(name)
    return names


def _row_cells(
    number: int, cells: list[Any], header: list[str], problems: list[Problem]
) -> list[str | None]:
    texts: list[str | None] = []
    for position, value in enumerate(cells):
        column = header[position] if position < len(header) else None
        try:
            texts.append(_cell(value))
        except _BadCell as bad:
            problems.append(Problem(number, column or None, *bad.args))
            texts.append(None)
    extra = [t for t in texts[len(header):] if t is not None]
    if extra:
        problems.append(Problem(number, None, extra[0], f"at most {len(header)} cells, "
                                "as many as the header has"))
    return (texts + [None] * len(header))[: len(header)]


def _frame(sheet: _Sheet) -> tuple[pd.DataFrame, list[Problem]]:
    """Turn a reader's output into the raw frame and the problems of its cells.

    A cell that cannot become text is None in the frame and reported in the list, so
    that validation can add the problems of the other cells to the same report.

    Raises:
        ContractError: for a header naming a column twice (with the cells' problems),
            since then no cell can be trusted to its column.
    """
    header_problems: list[Problem] = []
    header = _header(sheet, header_problems)
    problems: list[Problem] = list(sheet.problems)
    rows: dict[int, list[str | None]] = {}
    for number, cells in sheet.records:
        reported = len(problems)
        texts = _row_cells(number, cells, header, problems)
        # blank spreadsheet rows are not proposals; a row of unreadable cells still is one
        if len(problems) > reported or any(t is not None for t in texts):
            rows[number] = texts
    problems.sort(key=lambda p: p.row or 0)
    if header_problems:
        raise ContractError(header_problems + problems)
    keep = [i for i, name in enumerate(header) if name]
    frame = pd.DataFrame(
        [[cells[i] for i in keep] for cells in rows.values()],
        columns=[header[i] for i in keep], index=pd.Index(list(rows), name="row"), dtype=object,
    )
    return frame, problems


def _split_header(records: list[Record]) -> _Sheet:
    """The first non-blank row is the header; rows above it are skipped."""
    for position, (number, cells) in enumerate(records):
        if any(_header_name(v) for v in cells):
            return _Sheet(list(cells), records[position + 1:], header_row=number)
    return _Sheet([], [])


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else Windows-1252, as Excel on Windows writes CSV."""
    if data.startswith(_WIDE_BOMS):  # Excel's "Unicode text" export
        raise _fail("UTF-8 text: this file is UTF-16 or UTF-32 (in Excel, save as CSV UTF-8)",
                    "UTF-16/32 text")
    magic = next((what for m, what in _MAGIC.items() if data.startswith(m)), None)
    if magic or b"\x00" in data:
        raise _fail("a CSV or JSON text file: this is not a text file", magic or "binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise _fail("a text file in UTF-8 or Windows-1252: this is not a text file",
                    "undecodable bytes") from None


def _read_csv(data: bytes, sheet: str | None) -> _Sheet:
    text = _decode(data)
    first_line = text.lstrip("\r\n").splitlines()[0] if text.strip() else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[Record] = []
    last_start = start = 0  # lines read before the last record began
    try:
        while (row := next(reader, None)) is not None:
            records.append((len(records) + 1, row))
            last_start, start = start, reader.line_num
    except csv.Error as exc:
        raise _fail(f"well-formed CSV ({exc})", row=len(records) + 1) from None
    table = _split_header(records)
    _check_delimiter(table)
    if records and _unclosed_quote(text, records[-1][1], last_start, delimiter):
        number, cells = records[-1]
        names = [_header_name(v) for v in table.header] if number != table.header_row else []
        column = names[len(cells) - 1] if len(cells) <= len(names) else ""
        raise ContractError([Problem(number, column or None, cells[-1][:60], "a closing quote (\") "
                                     "for this quoted cell: it runs to the end of the file")])
    return table


def _unclosed_quote(text: str, last: list[str], start: int, delimiter: str) -> bool:
    """Whether the last record opens a quoted cell that never closes (lenient csv reads on)."""
    if not any("\n" in cell or "\r" in cell for cell in last):
        return False  # a record that swallowed the rest of the file spans several lines
    lines = itertools.islice(io.StringIO(text, newline=""), start, None)
    try:
        for _ in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _check_delimiter(sheet: _Sheet) -> None:
    """A header read as one cell full of tabs or pipes: columns we cannot split."""
    names = [str(v) for v in sheet.header if v is not None and str(v).strip()]
    for mark, name in _OTHER_DELIMITERS.items():
        if len(names) == 1 and mark in names[0].strip():
            raise _fail(f"columns separated by commas or semicolons: this file looks "
                        f"{name}-separated (save it as CSV or XLSX)", names[0].strip()[:60],
                        row=sheet.header_row)


def _load_json(text: str, line: int | None = None) -> Any:
    """json.loads with every failure turned into a problem that says where."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = "" if line else f" at line {exc.lineno}, column {exc.colno}"
        found = exc.doc[exc.pos: exc.pos + 30]
        raise _fail(f"valid JSON ({exc.msg}{where})", found, row=line) from None
    except (ValueError, RecursionError) as exc:  # integers past 4300 digits, absurd nesting
        raise _fail(f"valid JSON ({_reason(exc)})", row=line) from None


def _from_objects(objects: list[tuple[int, Any]], problems: list[Problem] | None = None) -> _Sheet:
    """Records from JSON objects; the header is every key, in first-seen order.

    Records that are not objects are left out and reported, after `problems`.
    """
    problems = (problems or []) + [
        Problem(n, None, reprlib.repr(o), "a JSON object ({...}) for each record")
        for n, o in objects if not isinstance(o, dict)]
    objects = [(n, o) for n, o in objects if isinstance(o, dict)]
    header = list(dict.fromkeys(key for _, o in objects for key in o))
    return _Sheet(header, [(n, [o.get(key) for key in header]) for n, o in objects],
                  problems=problems)


def _read_json(data: bytes, sheet: str | None) -> _Sheet:
    parsed = _load_json(_decode(data))
    if not isinstance(parsed, list):
        found = _JSON_NAMES.get(type(parsed), type(parsed).__name__)
        raise _fail("a JSON array of objects ([{...}, {...}])", f"a JSON {found}")
    return _from_objects(list(enumerate(parsed, start=1)))


def _read_jsonl(data: bytes, sheet: str | None) -> _Sheet:
    objects: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    # only "\n" ends a record: str.splitlines would also split at U+2028 inside strings
    for number, line in enumerate(_decode(data).split("\n"), start=1):
        try:
            if line.strip():
                objects.append((number, _load_json(line, number)))
        except ContractError as exc:
            problems += exc.problems
    return _from_objects(objects, problems)


def _read_json_object_or_lines(data: bytes, sheet: str | None) -> _Sheet:
    """Unnamed input starting with `{`: one (maybe pretty-printed) object, or JSON Lines."""
    try:
        parsed = _load_json(_decode(data))
    except ContractError:
        return _read_jsonl(data, sheet)
    return _from_objects([(1, parsed)])


def _read_parquet(data: bytes, sheet: str | None) -> _Sheet:
    import pyarrow as pa  # imported here: scoring a CSV should not pay for it
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        names = list(table.column_names)
    except Exception as exc:  # a damaged file fails in pyarrow in many ways, even late
        raise _fail(f"a readable Parquet file ({_reason(exc)})") from None
    rows = [list(cells) for cells in zip(*columns, strict=True)]
    return _Sheet(names, list(enumerate(rows, start=1)))


def _check_archive(data: bytes, max_bytes: int) -> None:
    """Refuse zip bombs before openpyxl inflates anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except Exception as exc:  # BadZipFile, NotImplementedError, EOFError... for damaged zips
        raise _fail(f"an XLSX workbook ({_reason(exc)})") from None
    if size > max_bytes * _XLSX_EXPANSION:
        raise _fail(f"at most {max_bytes * _XLSX_EXPANSION:,} bytes once uncompressed",
                    f"{size:,} bytes")


def _sheet_rows(data: bytes, sheet: str | None, *, data_only: bool) -> list[Record]:
    import openpyxl  # imported here: scoring a CSV should not pay for it

    if not openpyxl.DEFUSEDXML:
        raise RuntimeError("refusing to read XLSX without defusedxml (OPENPYXL_DEFUSEDXML)")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many exception types on malformed archives
        raise _fail(f"a readable XLSX workbook ({_reason(exc)})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise _fail(f"one of the sheets {', '.join(book.sheetnames)}", sheet)
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        worksheet.reset_dimensions()  # some writers store wrong dimensions; read every cell
        rows = [(n, list(r)) for n, r in enumerate(worksheet.iter_rows(values_only=True), 1)]
        if sheet is None and len(book.sheetnames) > 1 and not any(
                v not in (None, "") for _, cells in rows for v in cells):
            others = ", ".join(name for name in book.sheetnames if name != worksheet.title)
            raise _fail(f"the proposals on the first sheet, or --sheet naming one of: {others}",
                        f"an empty first sheet ({worksheet.title})")
        return rows
    except ContractError:
        raise
    except Exception as exc:  # malformed sheet XML (or forbidden entities) surfaces here
        raise _fail(f"a readable XLSX sheet ({_reason(exc)})") from None
    finally:
        book.close()


def _read_xlsx(data: bytes, sheet: str | None) -> _Sheet:
    with warnings.catch_warnings():
        # openpyxl warns on stderr about parts it works around (styles, broken links):
        # noise beside our one report, and not the user's to act on
        warnings.simplefilter("ignore", UserWarning)
        return _read_xlsx_cells(data, sheet)


def _read_xlsx_cells(data: bytes, sheet: str | None) -> _Sheet:
    records = _sheet_rows(data, sheet, data_only=True)
    if any(v is None for _, cells in records for v in cells):
        # data_only shows a formula without saved result as an empty cell: look again
        formulas = dict(_sheet_rows(data, sheet, data_only=False))
        for number, cells in records:
            for i, value in enumerate(cells):
                row = formulas.get(number, [])
                formula = row[i] if i < len(row) else None
                if value is None and isinstance(formula, str) and formula.startswith("="):
                    cells[i] = _FormulaWithoutResult(formula)
    return _split_header(records)


_READERS: dict[str, Callable[[bytes, str | None], _Sheet]] = {
    "csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl,
    "json_or_lines": _read_json_object_or_lines, "parquet": _read_parquet, "xlsx": _read_xlsx,
}


def _format_of(name: str, data: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"PAR1"):
        return "parquet"
    start = data.removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    return {b"[": "json", b"{": "json_or_lines"}.get(start, "csv")


def max_input_bytes() -> int:
    """The size limit for one input: $PARTNERSCORE_MAX_INPUT_BYTES when set, else `MAX_BYTES`.

    Raises:
        ConfigError: when the variable holds anything but a positive whole number of bytes.
    """
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return MAX_BYTES
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ConfigError([f"{MAX_BYTES_ENV}: expected a positive whole number of bytes, "
                           f"found {text!r}"])
    return limit


def _too_large(max_bytes: int, found: str) -> ContractError:
    return _fail(f"a file of at most {max_bytes:,} bytes (set {MAX_BYTES_ENV} to change "
                 "the limit)", found)


def _parse_bytes(
    data: bytes, name: str, sheet: str | None, max_bytes: int
) -> tuple[pd.DataFrame, list[Problem]]:
    """The raw frame and its cells' problems; whole-file problems are raised."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes, f"more than {max_bytes:,} bytes")
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise _fail("some data (the file is empty)")
    kind = _format_of(name, data)
    if sheet is not None and kind != "xlsx":
        raise _fail("an XLSX workbook, since a sheet was named", sheet)
    if kind == "xlsx":
        _check_archive(data, max_bytes)
    return _frame(_READERS[kind](data, sheet))


def read_bytes_table(
    data: bytes, name: str, *, sheet: str | None = None, max_bytes: int | None = None
) -> pd.DataFrame:
    """Parse a file's bytes into the raw all-strings frame; `name`'s extension picks the format.

    Without a known extension the content decides: XLSX or Parquet by their magic
    bytes, JSON when it starts with `[` or `{`, CSV otherwise. `max_bytes` defaults
    to `max_input_bytes()`.

    Raises:
        ContractError: when the bytes are too many, empty, or not a readable table.
    """
    limit = max_input_bytes() if max_bytes is None else max_bytes
    frame, problems = _parse_bytes(data, name, sheet, limit)
    if problems:
        raise ContractError(problems)
    return frame


def _read_source(source: str | Path, max_bytes: int) -> bytes:
    if str(source) == "-":
        return sys.stdin.buffer.read(max_bytes + 1)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(max_bytes, f"{size:,} bytes")
        with path.open("rb") as handle:
            return handle.read(max_bytes + 1)  # the size may have changed since stat
    except OSError as exc:
        raise _fail(f"a readable file ({exc.strerror or exc})", str(path)) from None


def _source_name(source: str | Path) -> str:
    return "<stdin>" if str(source) == "-" else str(source)


def _read_raw(
    source: str | Path, sheet: str | None, max_bytes: int | None
) -> tuple[pd.DataFrame, list[Problem]]:
    """The raw frame and its cells' problems; whole-file problems are raised, naming the file."""
    limit = max_input_bytes() if max_bytes is None else max_bytes
    try:
        return _parse_bytes(_read_source(source, limit), _source_name(source), sheet, limit)
    except ContractError as exc:
        exc.source = exc.source or _source_name(source)
        raise


def read_table(
    source: str | Path, *, sheet: str | None = None, max_bytes: int | None = None
) -> pd.DataFrame:
    """Read a CSV, XLSX, Parquet, JSON or JSON Lines file (`"-"`: standard input).

    At most `max_bytes` are read (default: `max_input_bytes()`).

    Returns:
        Cells as stripped text or None (object dtype), header names stripped and
        lower-cased, index = row number to report (named "row").

    Raises:
        ContractError: for a missing, unreadable, empty, oversized or malformed file;
            its `source` names the file.
    """
    raw, problems = _read_raw(source, sheet, max_bytes)
    if problems:
        raise ContractError(problems, source=_source_name(source))
    return raw


def load_proposals(
    source: str | Path, config: Config, *, labelled: bool, sheet: str | None = None
) -> pd.DataFrame:
    """Read and validate a proposals file; see `model.validation.validate_frame` for the output.

    Raises:
        ContractError: with every problem found (unreadable cells and broken rules in
            one report, in row order) and `source` naming the file.
    """
    raw, problems = _read_raw(source, sheet, None)
    try:
        typed = validate_frame(raw, config, labelled=labelled)
    except ContractError as exc:
        # an unreadable cell is also empty; unreadable records may leave no rows at all
        reported = {(p.row, p.column) for p in problems} | ({(None, None)} if problems else set())
        problems += [p for p in exc.problems if (p.row, p.column) not in reported]
    if problems:
        in_order = sorted(problems, key=lambda p: (p.row is not None, p.row or 0))
        raise ContractError(in_order, source=_source_name(source))
    return typed

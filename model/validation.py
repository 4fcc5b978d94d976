"""Checking proposals against the data contract and giving each column its type.

The loaders hand over an all-strings frame whose index holds the row number a user
would look for (the spreadsheet row, or the record number). `validate_frame` checks
every rule the configuration declares, reports every problem at once through
`ContractError`, and otherwise returns the typed frame the rest of the tool uses.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column, Config

BOOLEAN_WORDS: dict[str, bool] = {
    **dict.fromkeys(("true", "yes", "y", "1", "1.0", "oui", "vrai"), True),
    **dict.fromkeys(("false", "no", "n", "0", "0.0", "non", "faux"), False),
}
BOOLEAN_HINT = "a boolean (true/false, yes/no, y/n, 1/0, oui/non, vrai/faux)"
PERIOD_HINT = (
    "a month as YYYY-MM, e.g. 2026-03 "
    "(if Excel turned it into a date, format the column as text)"
)
REQUIRED_HINT = "a value (the column is required)"
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s-]+")
_COMMA_HINT = " (no thousands separator; a dot or a comma for decimals)"
_MAX_LISTED = 100
_MAX_SHOWN_CHARS = 60
_NUMERIC_TYPES = ("number", "integer", "boolean")


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (row and column, None when the whole file or column),
    the value found (empty when nothing was there) and what was expected."""

    row: int | None
    column: str | None
    value: str
    expected: str

    def __str__(self) -> str:
        place = [f"row {self.row}"] if self.row is not None else []
        place += [f"column {self.column}"] if self.column else []
        value = self.value
        if len(value) > _MAX_SHOWN_CHARS:
            value = value[:_MAX_SHOWN_CHARS] + "…"
        found = repr(value) if value else "nothing"
        return f"{', '.join(place) or 'file'}: found {found}, expected {self.expected}"


class ContractError(Exception):
    """Input that breaks the data contract; carries every problem found in it.

    This is the one exception for bad user input: loaders and validation raise it,
    the CLI reports it and exits with status 2.
    """

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        super().__init__(problems, source)
        self.problems: list[Problem] = list(problems)
        self.source = source

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: " if self.source else ""
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} with the data:"]
        lines += [f"- {p}" for p in self.problems[:_MAX_LISTED]]
        if count > _MAX_LISTED:
            lines.append(f"... and {count - _MAX_LISTED} more")
        return "\n".join(lines)


class _Invalid(Exception):
    """A cell breaks its column's rule; the message is what was expected."""


def normalise_level(text: str) -> str:
    """The canonical spelling of a category level: stripped, lower-case, `_` for spaces and `-`."""
    return _SEPARATORS.sub("_", text.strip().lower())


def _bound(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _number_hint(column: Column) -> str:
    hint = "a whole number" if column.type == "integer" else "a number"
    if column.min is not None:
        hint += f" {'>' if column.min_exclusive else '>='} {_bound(column.min)}"
    if column.max is not None:
        hint += f"{' and' if column.min is not None else ''} <= {_bound(column.max)}"
    return hint


def _decimal_comma(text: str) -> str:
    """'0,5' -> '0.5'; '1,000' stays as it is because it may be a thousands separator."""
    if text.count(",") != 1 or "." in text:
        return text
    whole, fraction = text.split(",")
    if len(fraction) == 3 and whole.lstrip("+-") not in ("", "0"):
        return text
    return f"{whole}.{fraction}"


def _parse_number(text: str, column: Column) -> float:
    candidate = _decimal_comma(text)
    value = float(candidate) if _NUMBER.fullmatch(candidate) else math.nan
    if not math.isfinite(value):
        raise _Invalid(_number_hint(column) + (_COMMA_HINT if "," in text else ""))
    too_low = column.min is not None and (
        value < column.min or (column.min_exclusive and value == column.min)
    )
    too_high = column.max is not None and value > column.max
    if too_low or too_high or (column.type == "integer" and not value.is_integer()):
        raise _Invalid(_number_hint(column))
    return value


def _parse_boolean(text: str, column: Column) -> float:
    try:
        return 1.0 if BOOLEAN_WORDS[text.lower()] else 0.0
    except KeyError:
        raise _Invalid(BOOLEAN_HINT) from None


def _parse_period(text: str, column: Column) -> str:
    if not _PERIOD.fullmatch(text):
        raise _Invalid(PERIOD_HINT)
    return text


def _parse_category(text: str, column: Column) -> str:
    level = normalise_level(text)
    known = {normalise_level(v): v for v in column.values}
    if level in known:
        return known[level]
    for key in (text.strip().lower(), level):
        if key in column.aliases:
            return column.aliases[key]
    raise _Invalid("one of: " + ", ".join(column.values))


_PARSERS: dict[str, Callable[[str, Column], Any]] = {
    "text": lambda text, column: text,
    "period": _parse_period,
    "number": _parse_number,
    "integer": _parse_number,
    "boolean": _parse_boolean,
    "category": _parse_category,
    "ordinal": _parse_category,
    "open_category": lambda text, column: normalise_level(text),
}


def cell_text(value: object) -> str | None:
    """A raw cell as stripped text, or None when it is empty or missing."""
    if isinstance(value, str):
        text = value.strip()
    elif value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    else:
        text = str(value).strip()
    return text or None


def _parse_cells(
    cells: Sequence[str | None], rows: Sequence[int | None], column: Column,
    required: bool, problems: list[Problem],
) -> list[Any]:
    parser = _PARSERS[column.type]
    parsed: dict[str, Any] = {}  # files repeat the same few values; parse each once
    values: list[Any] = []
    for row, text in zip(rows, cells, strict=True):
        if text is None:
            if required:
                problems.append(Problem(row, column.name, "", REQUIRED_HINT))
            values.append(None)
            continue
        if text not in parsed:
            try:
                parsed[text] = parser(text, column)
            except _Invalid as bad:
                parsed[text] = bad
        value = parsed[text]
        if isinstance(value, _Invalid):
            problems.append(Problem(row, column.name, text, str(value)))
            value = None
        values.append(value)
    return values


def _match_columns(raw: pd.DataFrame, config: Config, problems: list[Problem]) -> dict[str, int]:
    """Config column name -> position in `raw`, matching names stripped and lower-cased."""
    wanted = config.by_name
    found: dict[str, int] = {}
    for position, label in enumerate(raw.columns):
        name = str(label).strip().lower()
        if name in found:
            problems.append(Problem(None, name, str(label), "each column name only once"))
        elif name in wanted:
            found[name] = position
    return found


def _misspelt_columns(raw: pd.DataFrame, config: Config,
                      positions: dict[str, int]) -> dict[str, str]:
    """Contract columns absent from `raw` -> the header of `raw` that looks like each,
    misspelt (`partner_comitted_fte`). Other unknown columns are a file's own business
    (notes, owners) and are kept untouched; a near-miss of a contract column would
    otherwise be read as a column left out, and its values as missing."""
    from difflib import get_close_matches

    absent = [c.name for c in config.columns if c.name not in positions]
    used = set(positions.values())
    out: dict[str, str] = {}
    for position, label in enumerate(raw.columns):
        name = str(label).strip().lower()
        if position in used or name in config.by_name:
            continue
        close = get_close_matches(name, [a for a in absent if a not in out], n=1, cutoff=0.85)
        if close:
            out[close[0]] = str(label)
    return out


def _check_unique(
    ids: Sequence[str | None], rows: Sequence[int | None], name: str, problems: list[Problem]
) -> None:
    first_row: dict[str, int | None] = {}
    for row, value in zip(rows, ids, strict=True):
        if value is None:
            continue
        if value in first_row:
            problems.append(Problem(
                row, name, value, f"a unique {name} (already used on row {first_row[value]})"
            ))
        else:
            first_row[value] = row


def _row_number(label: object) -> int | None:
    try:
        return int(label)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _typed(values: list[Any], column: Column, as_label: bool, index: pd.Index) -> pd.Series:
    if column.type not in _NUMERIC_TYPES:
        return pd.Series(values, index=index, dtype=object, name=column.name)
    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if as_label:
        return pd.Series(array.astype(np.int64), index=index, name=column.name)
    return pd.Series(array, index=index, name=column.name)


def validate_frame(raw: pd.DataFrame, config: Config, *, labelled: bool) -> pd.DataFrame:
    """Check an all-strings frame against the contract and return it typed.

    Args:
        raw: cells as text or None; the index holds the row numbers to report.
        config: the contract.
        labelled: True for training files (trial_period and real_impact required).

    Returns:
        Config columns present, in config order, typed (see module docs), then any
        unknown columns untouched; same index as `raw`.

    Raises:
        ContractError: with every problem found, in row order.
    """
    problems: list[Problem] = []
    if len(raw.index) == 0:
        problems.append(Problem(None, None, "", "at least one data row (the file has no rows)"))
        if len(raw.columns) == 0:  # e.g. JSON `[]`: missing-column reports would only be noise
            raise ContractError(problems)
    positions = _match_columns(raw, config, problems)
    if len(raw.columns) and not positions:  # text, or a table whose header is elsewhere
        headers = [str(c) for c in raw.columns]
        shown = ", ".join(headers[:3]) + (", ..." if len(headers) > 3 else "")
        names = [c.name for c in config.columns if c.required_for(labelled)]
        problems.insert(0, Problem(None, None, shown, (
            f"a header naming the contract's columns ({', '.join(names[:3])}, ...): none "
            "of the columns read is one of them. Is it the right file (or sheet: --sheet NAME), "
            "with its header on the first line? Text that is not JSON is read as CSV")))
    misspelt = _misspelt_columns(raw, config, positions)
    for column in config.columns:
        if column.name in misspelt:
            header = misspelt[column.name]
            problems.append(Problem(None, column.name, header, (
                f"this column under its own name (the column headed {header!r} looks like it, "
                "misspelt: rename it, or remove it)")))
        elif column.required_for(labelled) and column.name not in positions:
            where = " in labelled files" if column.required == "labelled" else ""
            problems.append(Problem(None, column.name, "", f"this column (required{where})"))
    rows = [_row_number(label) for label in raw.index]
    parsed: dict[str, list[Any]] = {}
    for column in config.columns:
        if column.name in positions:
            cells = [cell_text(v) for v in raw.iloc[:, positions[column.name]].tolist()]
            required = column.required_for(labelled)
            parsed[column.name] = _parse_cells(cells, rows, column, required, problems)
    id_name = config.role("id")
    if id_name in parsed:
        _check_unique(parsed[id_name], rows, id_name, problems)
    if problems:
        raise ContractError(sorted(problems, key=lambda p: (p.row is not None, p.row or 0)))
    return _assemble(raw, config, parsed, set(positions.values()), labelled)


def _assemble(
    raw: pd.DataFrame, config: Config, parsed: dict[str, list[Any]], used: set[int],
    labelled: bool,
) -> pd.DataFrame:
    label = config.roles.get("label")
    series = [
        _typed(parsed[c.name], c, labelled and c.name == label and c.type == "boolean", raw.index)
        for c in config.columns if c.name in parsed
    ]
    known = set(config.by_name)
    series += [
        raw.iloc[:, i] for i, name in enumerate(raw.columns)
        if i not in used and str(name).strip().lower() not in known
    ]
    return pd.concat(series, axis=1) if series else pd.DataFrame(index=raw.index)


def _period_counts(frame: pd.DataFrame, period: str, label: str | None) -> list[dict[str, Any]]:
    rows = Counter(p for p in frame[period] if p is not None)
    positives: Counter[str] = Counter()
    if label is not None:
        positives.update(p for p, y in zip(frame[period], frame[label], strict=True) if y == 1)
    return [
        {"period": name, "rows": rows[name]} | ({"positives": positives[name]} if label else {})
        for name in sorted(rows)
    ]


def summarise(frame: pd.DataFrame, config: Config) -> dict[str, Any]:
    """Counts for a typed frame: rows, per-period rows (and positives when labelled),
    missing values per config column, and the positive rate (None when unlabelled)."""
    label = config.roles.get("label")
    label = label if label in frame.columns else None
    period = config.roles.get("period", "")
    rate = frame[label].mean() if label and len(frame) else math.nan
    present = [c.name for c in config.columns if c.name in frame.columns]
    return {
        "rows": len(frame),
        "periods": _period_counts(frame, period, label) if period in present else [],
        "missing": {name: int(frame[name].isna().sum()) for name in present},
        "positive_rate": None if math.isnan(rate) else float(rate),
    }

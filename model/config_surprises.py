"""The `interactions:` list and the `surprises:` section.

`interactions:` names the pairs of features whose combinations matter beyond their
parts: the weak-signal report watches their cells and the bayes model learns a term
for each cell. Each pair must name two different declared columns of a category type
(closed, open or ordinal): a cell is one pair of their values. A pair listed twice, in
either order, would count its cells twice, so it is refused; an empty list watches and
learns no pair. Without the list, the default pairs are used where the configuration
declares their columns. `surprises:` sets when a cell is reported or called strong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.config import Column
from model.config_rules import INVALID, Rule, Whole, listing, mapping, read_options, shown, unknown
from model.surprises import DEFAULT_PAIRS, WATCHABLE_TYPES, SurpriseSettings, pair_problems

_KEY = "surprises"
_PAIRS_KEY = "interactions"


@dataclass(frozen=True)
class _OpenFraction:
    """A number strictly between 0 and 1 (a level of 1 would give an infinite interval)."""

    expected: str = "a number between 0 and 1, both excluded"

    def read(self, value: Any) -> Any:
        """See `model.config_rules.Rule`."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return INVALID
        return float(value) if 0 < value < 1 else INVALID


_RULES: dict[str, Rule] = {"min_rows": Whole(1), "false_alarm_rate": _OpenFraction(),
                           "interval": _OpenFraction()}
_WATCHABLE = ", ".join(WATCHABLE_TYPES[:-1]) + " or " + WATCHABLE_TYPES[-1]


def _column_problem(key: str, name: Any, columns: Mapping[str, Column | None]) -> str | None:
    """Why one name of a pair cannot be watched (None when it can, or was reported already)."""
    if not isinstance(name, str) or name not in columns:
        return f"{key}: expected a column declared under columns, got {shown(name)}"
    column = columns[name]
    if column is None or column.type in WATCHABLE_TYPES:
        return None  # a malformed declaration is reported under columns
    return f"{key}: expected a column of type {_WATCHABLE}, got {name!r} of type {column.type}"


def _pair(raw: Any, key: str, columns: Mapping[str, Column | None],
          problems: list[str]) -> tuple[str, str] | None:
    """One watched pair, or None with its problems reported."""
    if (not isinstance(raw, list | tuple) or len(raw) != 2 or raw[0] == raw[1]
            or not all(isinstance(name, str) for name in raw)):
        problems.append(f"{key}: expected two different column names, got {shown(raw)}")
        return None
    declared = {n: c for n, c in columns.items() if c is not None}
    if not pair_problems([raw], declared):
        return (raw[0], raw[1])
    found = [_column_problem(f"{key}[{i}]", name, columns) for i, name in enumerate(raw)]
    problems.extend(p for p in found if p is not None)
    return None


def _pairs(raw: Any, columns: Mapping[str, Column | None],
           problems: list[str]) -> tuple[tuple[str, str], ...] | None:
    key = _PAIRS_KEY
    items = listing(raw, key, problems, "a list of pairs of column names")
    if items is None:
        return None
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        pair = _pair(item, f"{key}[{i}]", columns, problems)
        if pair is not None and {frozenset(p) for p in pairs} & {frozenset(pair)}:
            problems.append(f"{key}[{i}]: expected a pair not listed before, got {shown(item)}")
        elif pair is not None:
            pairs.append(pair)
    return tuple(pairs)


def parse_surprises(raw: Any, interactions: Any, columns: Mapping[str, Column | None],
                    problems: list[str], *, listed: bool = True) -> SurpriseSettings:
    """The `surprises:` section and the `interactions:` list (`listed`: present in the
    file), checked against the declared columns; problems are added."""
    section = mapping(raw, _KEY, problems)
    unknown(section, _RULES, _KEY, problems)
    options: dict[str, Any] = read_options(section, _RULES, _KEY, problems)
    pairs = _pairs(interactions, columns, problems) if listed else _default_pairs(columns)
    if pairs is not None:
        options["pairs"] = pairs
    return SurpriseSettings(**options)


def _default_pairs(columns: Mapping[str, Column | None]) -> tuple[tuple[str, str], ...]:
    """The default pairs this configuration's columns allow.

    A configuration written before the section existed, or one that dropped a column,
    still loads (and so does every model trained with it); it watches fewer pairs.
    """
    declared = {n: c for n, c in columns.items() if c is not None}
    return tuple(pair for pair in DEFAULT_PAIRS if not pair_problems([pair], declared))

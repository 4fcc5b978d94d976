"""The `interactions:` list and the `surprises:` section.

`interactions:` names the pairs of features whose combinations matter beyond their
parts. A pair of two declared columns of a category type (closed, open or ordinal) is
watched cell by cell: a cell is one pair of their values, the weak-signal report ranks
it and the bayes model learns a term for it. A pair of two number or boolean columns
(an action plan and the people committed to it) is learned as one product term: the
effect of one grows with the other; it has no cells to rank. A pair of one of each is
refused. A pair listed twice, in either order, would count twice, so it is refused; an
empty list watches and learns no pair. Without the list, the default pairs are used
where the configuration declares their columns. `surprises:` sets when a cell is
reported or called strong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.config import Column
from model.config_rules import INVALID, Rule, Whole, listing, mapping, read_options, shown, unknown
from model.surprises import (
    DEFAULT_PAIRS,
    DEFAULT_PRODUCTS,
    PRODUCT_TYPES,
    WATCHABLE_TYPES,
    SurpriseSettings,
    pair_kind,
    pair_problems,
)

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
_PRODUCT = ", ".join(PRODUCT_TYPES[:-1]) + " or " + PRODUCT_TYPES[-1]


def _column_problem(key: str, name: Any, columns: Mapping[str, Column | None]) -> str | None:
    """Why one name of a pair cannot be watched (None when it can, or was reported already)."""
    if not isinstance(name, str) or name not in columns:
        return f"{key}: expected a column declared under columns, got {shown(name)}"
    column = columns[name]
    if column is None or column.type in (*WATCHABLE_TYPES, *PRODUCT_TYPES):
        return None  # a malformed declaration is reported under columns
    return (f"{key}: expected a column of type {_WATCHABLE} (cells), or {_PRODUCT} (a "
            f"product), got {name!r} of type {column.type}")


def _pair(raw: Any, key: str, columns: Mapping[str, Column | None],
          problems: list[str]) -> tuple[str, str] | None:
    """One watched pair, or None with its problems reported."""
    if (not isinstance(raw, list | tuple) or len(raw) != 2 or raw[0] == raw[1]
            or not all(isinstance(name, str) for name in raw)):
        problems.append(f"{key}: expected two different column names, got {shown(raw)}")
        return None
    declared = {n: c for n, c in columns.items() if c is not None}
    if not pair_problems([raw], declared):
        found = _product_problems(key, declared[raw[0]], declared[raw[1]])
        problems.extend(found)
        return None if found else (raw[0], raw[1])
    found = [p for p in (_column_problem(f"{key}[{i}]", name, columns)
                         for i, name in enumerate(raw)) if p is not None]
    types = [getattr(columns.get(name), "type", None) for name in raw]
    if not found and None not in types:  # two good columns of different kinds
        found = [f"{key}: expected two columns of type {_WATCHABLE} (cells), or two of type "
                 f"{_PRODUCT} (a product), got {raw[0]!r} of type {types[0]} and {raw[1]!r} "
                 f"of type {types[1]}"]
    problems.extend(found)
    return None


def _product_problems(key: str, first: Column, second: Column) -> list[str]:
    """Why a product would break a strict belief (`model.beliefs`), if it would.

    A strict direction on one column is kept by giving the product's term the same sign,
    which works only when the other column is never negative (a boolean, or a number
    whose `min` is 0 or more) and the two columns' strict directions agree.
    """
    if first.is_categorical or second.is_categorical:
        return []
    strict = [c for c in (first, second) if c.belief.strict and c.monotone]
    if len(strict) == 2 and first.monotone != second.monotone:
        return [f"{key}: expected columns whose strict directions agree, got {first.name!r} "
                f"and {second.name!r} in opposite directions"]
    out = []
    for column, other in ((first, second), (second, first)):
        if column in strict and other.type != "boolean" and (other.min is None or other.min < 0):
            out.append(f"{key}: expected {other.name!r} never negative (min: 0 or more), since "
                       f"{column.name!r} has a strict direction the product must not reverse")
    return out


def _pairs(raw: Any, columns: Mapping[str, Column | None],
           problems: list[str]) -> list[tuple[str, str]] | None:
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
    return pairs


def parse_surprises(raw: Any, interactions: Any, columns: Mapping[str, Column | None],
                    problems: list[str], *, listed: bool = True) -> SurpriseSettings:
    """The `surprises:` section and the `interactions:` list (`listed`: present in the
    file), checked against the declared columns; problems are added."""
    section = mapping(raw, _KEY, problems)
    unknown(section, _RULES, _KEY, problems)
    options: dict[str, Any] = read_options(section, _RULES, _KEY, problems)
    pairs = (_pairs(interactions, columns, problems) if listed
             else _default_pairs(columns, (*DEFAULT_PAIRS, *DEFAULT_PRODUCTS)))
    if pairs is not None:
        declared = {n: c for n, c in columns.items() if c is not None}
        kinds = [pair_kind(pair, declared) for pair in pairs]
        options["pairs"] = tuple(p for p, k in zip(pairs, kinds, strict=True) if k == "cells")
        options["products"] = tuple(p for p, k in zip(pairs, kinds, strict=True)
                                    if k == "product")
    return SurpriseSettings(**options)


def _default_pairs(columns: Mapping[str, Column | None],
                   defaults: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The default pairs this configuration's columns allow.

    A configuration written before the section existed, or one that dropped a column,
    still loads (and so does every model trained with it); it watches fewer pairs.
    """
    declared = {n: c for n, c in columns.items() if c is not None}
    return [pair for pair in defaults if not pair_problems([pair], declared)
            and not _product_problems("", declared[pair[0]], declared[pair[1]])]

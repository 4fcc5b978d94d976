"""Pairs of features as features of their own: names, cells and wording.

A watched pair (`interactions:` in the configuration, partner sector x partnership
type) becomes one more feature of the model: one encoded column per cell met often
enough in training (a video-game studio asking for a technical integration), learned by
the bayes model under a pooled prior (`model.bayes`). Its explanation is its own
reason, worded from its two values ("Video games × technical integration"), so reports
and predictions treat it through a stand-in `Column` (`pair_column`) whose values are
the proposals' cells (`cell_values`). A product (two numbers or booleans: an action plan
and the people committed to it) has one column, and its stand-in (`product_column`)
carries its two columns, whose wording makes its reason ("Has an action plan × partner
commits 2 FTE").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from model.config import Column

SEPARATOR = " × "
T = TypeVar("T")
FULL_TABLE = 4096  # pairs of distinct values keyed all at once below this many (no sort)


def pair_name(pair: Sequence[str]) -> str:
    """The feature name of a pair of columns: `partner_sector × partnership_type`."""
    return SEPARATOR.join(pair)


def cell_key(first: object, second: object) -> str:
    """The cell of two values as encoders, bundles and reasons write it."""
    return f"{first}{SEPARATOR}{second}"


def _factorized(proposals: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """A column's values as codes into its distinct values, each as `str` writes it (-1
    where missing, or everywhere when the column is left out of the file)."""
    if name not in proposals:
        return np.full(len(proposals), -1, dtype=np.intp), []
    values = proposals[name]
    codes, uniques = pd.factorize(values.astype(str))  # 1 and True are two values here
    codes = np.where(values.isna().to_numpy(), -1, codes).astype(np.intp)
    return codes, [str(value) for value in uniques]


def _cells_of(proposals: pd.DataFrame, pair: Sequence[str],
              cell: Callable[[str], T], missing: T) -> np.ndarray:
    """`cell(cell_key(a, b))` for each proposal's values a and b, `missing` where either is
    missing; the key is built once per distinct pair of values met, not once per proposal."""
    (first, firsts), (second, seconds) = (_factorized(proposals, name) for name in pair)
    out = np.empty(len(proposals), dtype=object)
    out[:] = [missing]
    given = np.flatnonzero((first >= 0) & (second >= 0))
    codes = first[given] * len(seconds) + second[given]
    if len(firsts) * len(seconds) <= max(len(given), FULL_TABLE):
        met, where = np.arange(len(firsts) * len(seconds)), codes  # every pair: no sort needed
    else:  # many distinct values: only the pairs met
        met, where = np.unique(codes, return_inverse=True)
    table = np.empty(len(met), dtype=object)
    table[:] = [cell(cell_key(firsts[code // len(seconds)], seconds[code % len(seconds)]))
                for code in met.tolist()]
    out[given] = table[np.ravel(where)]
    return out


def cell_values(proposals: pd.DataFrame, pair: Sequence[str]) -> pd.Series:
    """Each proposal's cell of the pair, as `cell_key` writes it (missing where either value
    is missing), indexed like the proposals."""
    keys = _cells_of(proposals, pair, lambda key: key, None)
    return pd.Series(keys, index=proposals.index, dtype=object)


def cell_positions(proposals: pd.DataFrame, pair: Sequence[str],
                   cells: Sequence[str]) -> np.ndarray:
    """Each proposal's position in `cells` (keys as `cell_key` writes them): -1 where either
    value is missing or the cell is not among them."""
    index = {key: j for j, key in enumerate(cells)}
    return _cells_of(proposals, pair, lambda key: index.get(key, -1), -1).astype(np.intp)


def level_label(column: Column | None, value: object) -> str:
    """A value as people read it on its own: the column's `level_labels` entry, or the value
    with spaces for '_' ('hr_tech' -> 'hr tech')."""
    text = str(value)
    return (column.level_labels.get(text) if column is not None else None) or text.replace("_", " ")


def value_labels(features: Sequence[str], values: Sequence[object],
                 columns: Mapping[str, Column]) -> tuple[str, str]:
    """A cell's two values as people read them, each by its column's `level_labels`."""
    first, second = (columns.get(name) for name in features)
    return level_label(first, values[0]), level_label(second, values[1])


def sentence_start(text: str) -> str:
    """`text` opening a sentence: its first letter upper-case, unless its first word is
    spelled with capitals of its own ('eBay', 'iOS')."""
    first = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first[1:]) else text[:1].upper() + text[1:]


def values_label(values: Sequence[object], parts: Sequence[Column | None] = ()) -> str:
    """Two values as people read them, as a sentence opens: ('video_games',
    'technical_integration') -> 'Video games × technical integration', each value by its
    column's `level_labels` when `parts` are given."""
    return sentence_start(SEPARATOR.join(level_label(parts[i] if i < len(parts) else None, v)
                                         for i, v in enumerate(values)))


def recorded_label(labels: Sequence[str] | None, values: Sequence[object]) -> str:
    """Two values by the labels recorded with them (a learned cell, a weak-signal cell), or
    from the values themselves where a record holds none (made before labels were)."""
    return sentence_start(SEPARATOR.join(labels)) if labels else values_label(values)


def cell_label(cell: str, parts: Sequence[Column | None] = ()) -> str:
    """A cell key as people read it: `video_games × technical_integration` -> `Video games ×
    technical integration` (see `values_label`)."""
    return values_label(cell.split(SEPARATOR, 1), parts)


@dataclass(frozen=True)
class PairColumn(Column):
    """The stand-in column of a pair: its values are cells of its two columns' values."""

    parts: tuple[Column, ...] = ()


def pair_column(first: Column, second: Column) -> PairColumn:
    """The stand-in column reasons, reports and figures use for a pair feature."""
    second_label = second.label[:1].lower() + second.label[1:] if second.label else second.name
    return PairColumn(name=pair_name((first.name, second.name)), type="category",
                      label=f"{first.label or first.name} × {second_label}",
                      describe="{value}", parts=(first, second))


@dataclass(frozen=True)
class ProductColumn(PairColumn):
    """The stand-in column of a product: its value is the pair of its two columns' values."""


def product_column(first: Column, second: Column) -> ProductColumn:
    """The stand-in column reasons, reports and figures use for a product feature."""
    pair = pair_column(first, second)
    return ProductColumn(name=pair.name, type="category", label=pair.label,
                         parts=(first, second))


def is_pair(name: str) -> bool:
    """Whether a feature name is a pair's (column names never hold the separator)."""
    return SEPARATOR in name


def with_cells(proposals: pd.DataFrame, names: Iterable[str],
               columns: Mapping[str, Column] | None = None) -> pd.DataFrame:
    """The proposals with a column of cells for each pair feature among `names` (a copy
    when any is added), so that code reading a feature's values reads a pair's too. A
    product (a `ProductColumn` in `columns`) gets each proposal's two values as a tuple."""
    wanted = [name for name in names if is_pair(name) and name not in proposals]
    if not wanted:
        return proposals
    columns = columns or {}
    return proposals.assign(**{
        name: (_value_pairs(proposals, name.split(SEPARATOR))
               if isinstance(columns.get(name), ProductColumn)
               else cell_values(proposals, name.split(SEPARATOR)))
        for name in wanted})


def _value_pairs(proposals: pd.DataFrame, pair: Sequence[str]) -> pd.Series:
    parts = [proposals[name].astype(object).where(proposals[name].notna(), None).tolist()
             if name in proposals else [None] * len(proposals) for name in pair]
    return pd.Series(list(zip(*parts, strict=True)), index=proposals.index, dtype=object)

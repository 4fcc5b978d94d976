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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from model.config import Column

SEPARATOR = " × "


def pair_name(pair: Sequence[str]) -> str:
    """The feature name of a pair of columns: `partner_sector × partnership_type`."""
    return SEPARATOR.join(pair)


def cell_key(first: object, second: object) -> str:
    """The cell of two values as encoders, bundles and reasons write it."""
    return f"{first}{SEPARATOR}{second}"


def cell_values(proposals: pd.DataFrame, pair: Sequence[str]) -> pd.Series:
    """Each proposal's cell of the pair, as `cell_key` writes it (missing where either value
    is missing), indexed like the proposals."""
    parts = [proposals[name] if name in proposals
             else pd.Series(None, index=proposals.index, dtype=object) for name in pair]
    missing = parts[0].isna().to_numpy() | parts[1].isna().to_numpy()
    keys = parts[0].astype(str).str.cat(parts[1].astype(str), sep=SEPARATOR)
    return keys.astype(object).where(~missing, None)


def cell_label(cell: str) -> str:
    """A cell as people read it: `video_games × technical_integration` -> `Video games ×
    technical integration`."""
    text = cell.replace("_", " ")
    return text[:1].upper() + text[1:]


def pair_column(first: Column, second: Column) -> Column:
    """The stand-in column reasons, reports and figures use for a pair feature."""
    second_label = second.label[:1].lower() + second.label[1:] if second.label else second.name
    return Column(name=pair_name((first.name, second.name)), type="category",
                  label=f"{first.label or first.name} × {second_label}",
                  describe="{value}")


@dataclass(frozen=True)
class ProductColumn(Column):
    """The stand-in column of a product: its value is the pair of its two columns' values."""

    parts: tuple[Column, ...] = ()


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

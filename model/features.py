"""Feature encoding from the configuration: proposals in their own fields to a numeric matrix.

The encoder is numpy-only so that scoring never imports scikit-learn. Every output
column belongs to exactly one configured feature (`groups_`), which is what lets
explanations be summed back to the proposal's own fields instead of one-hot columns.

- categories (closed and open): one column per level seen at least
  `rare_level_min_count` times, plus an `other` column for rare and unseen levels;
- ordinals: their position in the configured order;
- booleans and numbers: the value (log1p for skewed counts), the training median
  where missing, and a missing-value indicator for optional columns;
- pairs (`interactions:`), after every configured feature: one column per cell (a
  value of each of the two columns) met at least `cell_min_count` times (the weak-signal
  report's `surprises.min_rows`: fewer outcomes say little about a cell), and no
  `other` column, so a proposal in a rarer or unseen cell has no pair column set.
  Only the bayes model learns them (`model.estimators`); `main_width_` columns come
  first, so the other candidates fit on that prefix;
- products (`interactions:` of two numbers or booleans), last: one column, the product
  of the two encoded values (each filled where missing as above), so that an action
  plan's effect grows with the people committed to it. Learned by the bayes model only,
  like pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from model.config import Column
from model.pairs import cell_positions, cell_values, pair_column, pair_name, product_column

OTHER = "__other__"
MISSING = "__missing__"
DERIVED_KINDS = ("pair", "product")  # encoded after the configured features, bayes only


@dataclass(frozen=True)
class FeatureSpec:
    """How one configured feature is encoded once fitted."""

    name: str
    kind: str  # "category", "ordinal", "boolean", "numeric", "pair" or "product"
    levels: tuple[str, ...] = ()  # one-hot levels kept (categories), or the order (ordinals)
    seen: tuple[str, ...] = ()  # every level met in training, for novelty flags
    fill: float = 0.0  # value used where missing, in encoded units
    log: bool = False
    indicator: bool = False  # an extra column flags missing values
    low: float = float("nan")  # training range, in the proposal's own units
    high: float = float("nan")
    monotone: int = 0
    pair: tuple[str, ...] = ()  # a pair's (or product's) two columns; a pair's `levels` are its cells

    @property
    def columns(self) -> list[str]:
        """Names of the encoded columns this feature produces."""
        if self.kind == "pair":
            return [f"{self.name}={cell}" for cell in self.levels]
        if self.kind == "category":
            return [f"{self.name}={level}" for level in (*self.levels, OTHER)]
        return [self.name] + ([f"{self.name}__missing"] if self.indicator else [])


def _kind(column: Column) -> str:
    if column.type in ("category", "open_category"):
        return "category"
    if column.type == "ordinal":
        return "ordinal"
    if column.type == "boolean":
        return "boolean"
    return "numeric"


def _as_levels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING)


def _mapped(values: pd.Series, mapping: dict[Any, Any], unknown: Any, missing: Any) -> np.ndarray:
    """`mapping.get(value, unknown)` for each value (`missing` where it is missing), looked
    up once per distinct value rather than once per proposal."""
    codes, uniques = pd.factorize(values)
    table = np.array([mapping.get(value, unknown) for value in uniques] + [missing])
    return table[codes]  # a missing value's code is -1: the table's last entry


def _column(proposals: pd.DataFrame, name: str) -> pd.Series:
    """A feature's values; an optional column left out of the file is entirely missing."""
    if name in proposals:
        return proposals[name]
    return pd.Series([None] * len(proposals), index=proposals.index, dtype=object)


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else 0.0


class Flag(TypedDict):
    """Something to doubt about a score: a novel category, a value out of range, a missing field."""

    kind: str
    feature: str
    value: Any


class FeatureEncoder:
    """Turns validated proposals into the model's numeric matrix.

    Build unfitted with the configured feature columns, `fit` on training proposals,
    then `transform` any proposals (unseen levels and missing values never fail).
    """

    def __init__(self, features: Sequence[Column], *, rare_level_min_count: int = 5,
                 pairs: Sequence[Sequence[str]] = (), products: Sequence[Sequence[str]] = (),
                 cell_min_count: int = 10) -> None:
        self.features = tuple(features)
        self.rare_level_min_count = rare_level_min_count
        self.cell_min_count = cell_min_count
        named = {c.name for c in self.features}
        self.pairs = tuple((a, b) for a, b in pairs if a in named and b in named)
        self.products = tuple((a, b) for a, b in products if a in named and b in named)

    def fit(self, proposals: pd.DataFrame) -> FeatureEncoder:
        """Learn levels, cells, fill values and training ranges; returns self."""
        specs = [self._fit_one(col, _column(proposals, col.name)) for col in self.features]
        # A pair none of whose cells is common enough has no column, and no reason to give.
        specs += [spec for spec in (self._fit_pair(pair, proposals) for pair in self.pairs)
                  if spec.levels]
        specs += [FeatureSpec(pair_name(pair), "product", pair=pair) for pair in self.products]
        self.specs_ = tuple(specs)
        self._index()
        return self

    def _product(self, pair: Sequence[str], proposals: pd.DataFrame) -> np.ndarray:
        """The product of the two columns' encoded values, each filled where missing."""
        specs = {spec.name: spec for spec in self.specs_}
        columns = {column.name: column for column in self.features}
        out = np.ones(len(proposals))
        for name in pair:
            spec = specs[name]
            encoded = self._encode_values(columns[name], spec.kind, _column(proposals, name))
            out *= np.where(np.isfinite(encoded), encoded, spec.fill)
        return out

    def _fit_pair(self, pair: tuple[str, str], proposals: pd.DataFrame) -> FeatureSpec:
        counts = cell_values(proposals, pair).value_counts()
        kept = sorted(cell for cell, n in counts.items() if n >= self.cell_min_count)
        return FeatureSpec(pair_name(pair), "pair", levels=tuple(kept), pair=pair)

    def _fit_one(self, column: Column, values: pd.Series) -> FeatureSpec:
        kind = _kind(column)
        optional = column.required != "yes"
        if kind == "category":
            counts = _as_levels(values).value_counts()
            kept = [lvl for lvl, n in counts.items() if n >= self.rare_level_min_count]
            order = list(column.values) + sorted(set(kept) - set(column.values))
            levels = tuple(lvl for lvl in order if lvl in kept)
            return FeatureSpec(column.name, kind, levels=levels,
                               seen=tuple(sorted(map(str, counts.index))))
        encoded = self._encode_values(column, kind, values)
        raw = self._raw_numbers(kind, column, values)
        finite = raw[np.isfinite(raw)]
        return FeatureSpec(
            column.name, kind,
            levels=column.values if kind == "ordinal" else (),
            fill=_median(encoded), log=column.log and kind == "numeric",
            indicator=optional,
            low=float(finite.min()) if finite.size else float("nan"),
            high=float(finite.max()) if finite.size else float("nan"),
            monotone=column.monotone,
        )

    @staticmethod
    def _raw_numbers(kind: str, column: Column, values: pd.Series) -> np.ndarray:
        if kind == "ordinal":
            position = {v: float(i) for i, v in enumerate(column.values)}
            return _mapped(values, position, np.nan, np.nan).astype(float)
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def _encode_values(self, column: Column, kind: str, values: pd.Series) -> np.ndarray:
        raw = self._raw_numbers(kind, column, values)
        if kind == "numeric" and column.log:
            return np.log1p(np.clip(raw, 0.0, None))
        return raw

    def _index(self) -> None:
        names: list[str] = []
        groups: list[int] = []
        monotone: list[int] = []
        for i, spec in enumerate(self.specs_):
            cols = spec.columns
            names += cols
            groups += [i] * len(cols)
            unsigned = spec.kind in ("category", *DERIVED_KINDS)
            monotone += [0 if unsigned else spec.monotone] + [0] * (len(cols) - 1)
        self.columns_ = tuple(names)
        self.main_width_ = sum(len(s.columns) for s in self.specs_
                               if s.kind not in DERIVED_KINDS)
        self.groups_ = np.asarray(groups, dtype=np.int64)
        self.monotone_ = np.asarray(monotone, dtype=np.int64)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The configured features, then the pairs, in the order explanations use."""
        return tuple(spec.name for spec in self.specs_)

    @property
    def described(self) -> dict[str, Column]:
        """Every feature's column by name, a pair's or product's stand-in
        (`model.pairs.pair_column`, `product_column`) included."""
        out = {c.name: c for c in self.features}
        for a, b in self.pairs:
            column = pair_column(out[a], out[b])
            out[column.name] = column
        for a, b in self.products:
            column = product_column(out[a], out[b])
            out[column.name] = column
        return out

    def transform(self, proposals: pd.DataFrame) -> np.ndarray:
        """Encode proposals as a float matrix with one column per `columns_` entry."""
        main = [spec for spec in self.specs_ if spec.kind not in DERIVED_KINDS]
        out = np.zeros((len(proposals), len(self.columns_)))
        start = 0
        for spec, column in zip(main, self.features, strict=True):
            block = self._transform_one(spec, column, _column(proposals, spec.name))
            out[:, start:start + block.shape[1]] = block
            start += block.shape[1]
        for spec in self.specs_[len(main):]:  # pairs, then products: `columns_` order
            if spec.kind == "pair":  # one-hot cells, set in place: most of the matrix
                cols = cell_positions(proposals, spec.pair, spec.levels)
                rows = np.flatnonzero(cols >= 0)
                out[rows, start + cols[rows]] = 1.0
            else:
                out[:, start] = self._product(spec.pair, proposals)
            start += len(spec.columns)
        return out

    def directions(self, proposals: pd.DataFrame) -> dict[str, np.ndarray]:
        """The values that say whether "higher raises" a feature: each number's and boolean's
        own values (missing as nan) and each product's encoded column."""
        out = {spec.name: pd.to_numeric(proposals[spec.name], errors="coerce").to_numpy(
                   dtype=float, na_value=np.nan)
               for spec in self.specs_
               if spec.kind in ("numeric", "boolean") and spec.name in proposals}
        out.update({spec.name: self._product(spec.pair, proposals) for spec in self.specs_
                    if spec.kind == "product"})
        return out

    def _transform_one(self, spec: FeatureSpec, column: Column, values: pd.Series) -> np.ndarray:
        n = len(values)
        if spec.kind == "category":
            out = np.zeros((n, len(spec.levels) + 1))
            index = {lvl: j for j, lvl in enumerate(spec.levels)}
            cols = _mapped(values, index, len(spec.levels), index.get(MISSING, len(spec.levels)))
            out[np.arange(n), cols] = 1.0
            return out
        encoded = self._encode_values(column, spec.kind, values)
        missing = ~np.isfinite(encoded)
        value = np.where(missing, spec.fill, encoded)
        if not spec.indicator:
            return value[:, None]
        return np.column_stack([value, missing.astype(float)])

    def flags(self, proposals: pd.DataFrame) -> list[list[Flag]]:
        """Per proposal: novel categories, values outside the training range, missing values."""
        result: list[list[Flag]] = [[] for _ in range(len(proposals))]
        for spec in self.specs_:
            if spec.kind in DERIVED_KINDS:  # its two columns carry the flags
                continue
            values = _column(proposals, spec.name)
            kinds = self._flag_kinds(spec, values)
            listed = values.tolist()
            for i in np.flatnonzero(kinds != ""):
                value = listed[i]
                if isinstance(value, float) and np.isnan(value):
                    value = None
                result[i].append(Flag(feature=spec.name, kind=str(kinds[i]), value=value))
        return result

    @staticmethod
    def _flag_kinds(spec: FeatureSpec, values: pd.Series) -> np.ndarray:
        missing = values.isna().to_numpy()
        kinds = np.full(len(values), "", dtype=object)
        if spec.indicator:
            kinds[missing] = "missing"
        if spec.kind == "category":
            novel = ~values.isin(spec.seen).to_numpy() & ~missing
            kinds[novel] = "novel_category"
        elif spec.kind != "ordinal" and np.isfinite(spec.low):
            number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            outside = ~missing & ((number < spec.low) | (number > spec.high))
            kinds[outside] = "outside_training_range"
        return kinds

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-ready data."""
        return {"rare_level_min_count": self.rare_level_min_count,
                "cell_min_count": self.cell_min_count,
                "pairs": [list(pair) for pair in self.pairs],
                "products": [list(pair) for pair in self.products],
                "specs": [_spec_to_dict(s) for s in self.specs_]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], features: Sequence[Column]) -> FeatureEncoder:
        """Rebuild a fitted encoder from `to_dict` output and the configured columns."""
        by_name = {c.name: c for c in features}
        specs = tuple(_spec_from_dict(s) for s in data["specs"])
        encoder = cls([by_name[s.name] for s in specs if s.kind not in DERIVED_KINDS],
                      rare_level_min_count=int(data["rare_level_min_count"]),
                      pairs=[tuple(pair) for pair in data.get("pairs", [])],
                      products=[tuple(pair) for pair in data.get("products", [])],
                      cell_min_count=int(data.get("cell_min_count", 10)))
        encoder.specs_ = specs
        encoder._index()
        return encoder


def _spec_to_dict(spec: FeatureSpec) -> dict[str, Any]:
    out = dict(spec.__dict__)
    out["levels"], out["seen"], out["pair"] = list(spec.levels), list(spec.seen), list(spec.pair)
    for key in ("low", "high", "fill"):
        out[key] = None if np.isnan(out[key]) else float(out[key])
    return out


def _spec_from_dict(data: dict[str, Any]) -> FeatureSpec:
    values = dict(data)
    values["levels"], values["seen"] = tuple(data["levels"]), tuple(data["seen"])
    values["pair"] = tuple(data.get("pair", ()))  # bundles saved before pairs have none
    for key in ("low", "high", "fill"):
        values[key] = float("nan") if values[key] is None else float(values[key])
    return FeatureSpec(**values)

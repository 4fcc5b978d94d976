"""A column's `belief:` option: how sure the team is of its direction, or which levels help.

`monotone: increasing|decreasing` states the direction the team believes in; `belief:`
says how firmly (`strength`), how large the effect is believed to be (`effect`), makes
the direction a hard constraint (`strict: true`), or, for a category, names the levels
believed `favourable` or `unfavourable`. Every problem names its dotted key
(`columns.lifecycle_position.belief.levels.midstream`) and the value expected; what the
values mean is documented in `model.beliefs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from model.config import ColumnBelief
from model.config_rules import INVALID, Flag, Real, Rule, join, mapping, read_options, shown, unknown

STRENGTH_NAMES = ("weak", "moderate", "strong")  # the names model.beliefs.STRENGTHS defines
SIDES = {"favourable": 1, "unfavourable": -1}
CATEGORIES = ("category", "open_category")
BELIEF_TYPES = ("boolean", "number", "integer", "ordinal", *CATEGORIES)
_SEPARATORS = re.compile(r"[\s-]+")  # as model.validation.normalise_level spells levels


class _Strength:
    """weak, moderate, strong, or a prior standard deviation > 0."""

    expected = ("one of weak, moderate, strong, or a number > 0 (the prior standard deviation "
                "in log-odds per typical change)")

    def read(self, value: Any) -> Any:
        """See `model.config_rules.Rule`."""
        if isinstance(value, str):
            return value if value in STRENGTH_NAMES else INVALID
        number = Real(0, low_open=True).read(value)
        return number if number is INVALID else float(number)


_RULES: dict[str, Rule] = {"strength": _Strength(), "effect": Real(0, low_open=True),
                           "strict": Flag()}
_KEYS = (*_RULES, "levels")


def _spelling(level: str) -> str:
    return _SEPARATORS.sub("_", level.strip().lower())


def _levels(raw: Any, ctype: str, values: tuple[str, ...], key: str,
            problems: list[str]) -> dict[str, int]:
    """Level -> +1 or -1; a closed category's levels must be among its values."""
    key = join(key, "levels")
    table = mapping(raw, key, problems, "a mapping of level to favourable or unfavourable")
    known = {_spelling(v): v for v in values}
    out: dict[str, int] = {}
    for level, side in table.items():
        where = f"{key}.{level}"
        if not isinstance(side, str) or side not in SIDES:
            problems.append(f"{where}: expected favourable or unfavourable, got {shown(side)}")
            continue
        spelling = _spelling(level)
        if ctype == "category" and spelling not in known:
            problems.append(f"{where}: expected one of the column's values "
                            f"({', '.join(values)}), got {level!r}")
            continue
        out[known.get(spelling, spelling)] = SIDES[side]
    if not table and (raw is None or isinstance(raw, Mapping)):
        problems.append(f"{key}: expected at least one level, got {shown(raw)}")
    return out


def parse_belief(raw: Any, ctype: str, monotone: int, values: tuple[str, ...], feature: bool,
                 key: str, problems: list[str]) -> ColumnBelief:
    """A column's `belief:` option (absent: the defaults); problems are added to `problems`."""
    key = join(key, "belief")
    spec = mapping(raw, key, problems, "a mapping of belief options (strength, effect, strict, "
                                       "levels)")
    if not spec or ctype not in BELIEF_TYPES:  # a wrong column type is reported by the caller
        return ColumnBelief()
    if not feature:
        problems.append(f"{key}: expected only on a feature column (feature: true), got "
                        f"{shown(raw)}")
    unknown(spec, _KEYS, key, problems)
    options = read_options(spec, _RULES, key, problems)
    category = ctype in CATEGORIES
    levels: dict[str, int] = {}
    if "levels" in spec and not category:
        problems.append(f"{key}.levels: expected only on category, open_category columns (this "
                        f"one is {ctype}; state its direction with monotone), got "
                        f"{shown(spec['levels'])}")
    elif "levels" in spec:
        levels = _levels(spec["levels"], ctype, values, key, problems)
    elif category:
        problems.append(f"{key}.levels: expected a mapping of level to favourable or "
                        f"unfavourable for a {ctype} column; none given")
    if "effect" in options and not (category or monotone):
        problems.append(f"{key}.effect: expected only with monotone: increasing or decreasing "
                        f"(a believed size needs a direction), got {shown(spec['effect'])}")
    if options.get("strict") and (category or not monotone):
        why = "a category's levels have no order" if category else "this column has none"
        problems.append(f"{key}.strict: expected only with monotone: increasing or decreasing "
                        f"({why}), got true")
    return ColumnBelief(strength=options.get("strength"), effect=options.get("effect"),
                        strict=options.get("strict", False), levels=levels)

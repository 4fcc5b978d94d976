"""The `decide:` section: how `partnerscore decide` spends its exploration places.

`directed_share` is the chance that an exploring place goes to a proposal of a cell the
weak-signal report ranks high rather than to any proposal (`model.policy`); it stops
short of 1 so that every proposal keeps a chance of being explored. `directed_cells` is
how many of the report's better-than-expected cells, strongest evidence first, count as
ranked high.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.config_rules import INVALID, Rule, Whole, mapping, read_options, unknown

_KEY = "decide"


@dataclass(frozen=True)
class DecideSettings:
    """Directed exploration, from the `decide:` section (bench/results/directed_exploration.md)."""

    # 0.75 learned a planted cell soonest of 0, 0.25, 0.5 and 0.75, at no cost in real impact
    directed_share: float = 0.75
    directed_cells: int = 3


@dataclass(frozen=True)
class _Share:
    """A number from 0 to 1, 1 excluded (at 1 a proposal outside the cells could never be explored)."""

    expected: str = "a number from 0 to 1, 1 excluded"

    def read(self, value: Any) -> Any:
        """See `model.config_rules.Rule`."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return INVALID
        return float(value) if 0 <= value < 1 else INVALID


_RULES: dict[str, Rule] = {"directed_share": _Share(), "directed_cells": Whole(1, 1000)}


def parse_decide(raw: Any, problems: list[str]) -> DecideSettings:
    """The `decide:` section; problems (each naming its key and the value expected) are added."""
    section = mapping(raw, _KEY, problems)
    unknown(section, _RULES, _KEY, problems)
    return DecideSettings(**read_options(section, _RULES, _KEY, problems))

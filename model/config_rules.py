"""What each configuration value must be: typed readers that name the key and the expectation.

`parse_config` reads every value through one of these rules, so a text where a number
is expected, a list where a mapping is expected, a boolean written as 0 or 1, NaN,
infinity or a negative count becomes one line of the configuration report (the dotted
key, what was expected, what was found) rather than an exception from inside training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Protocol

INVALID: Any = object()  # what a rule returns for a value it refuses


class Rule(Protocol):
    """A kind of configuration value: what it must be, and how to read it."""

    @property
    def expected(self) -> str:
        """The expectation as the report states it ("a whole number >= 2")."""
        ...

    def read(self, value: Any) -> Any:
        """The value typed, or INVALID."""
        ...


def shown(value: Any) -> str:
    """A value as the report quotes it, cut short when long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    # YAML reads true/false as booleans, which Python counts as integers.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Whole:
    """A whole number in [low, high] (high None: no upper bound), or one of `also`."""

    low: int
    high: int | None = None
    also: tuple[int, ...] = ()

    @property
    def expected(self) -> str:
        """See `Rule`."""
        span = f">= {self.low}" if self.high is None else f"from {self.low} to {self.high}"
        return f"a whole number {span}" + "".join(f" or {v}" for v in self.also)

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        if not _is_number(value) or not isinstance(value, int):
            return INVALID
        inside = value >= self.low and (self.high is None or value <= self.high)
        return value if inside or value in self.also else INVALID


@dataclass(frozen=True)
class Real:
    """A finite number within optional bounds (`low_open`: the lower bound excluded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    @property
    def expected(self) -> str:
        """See `Rule`."""
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"<= {self.high:g}")
        return "a number " + " and ".join(bounds) if bounds else "a finite number"

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        try:
            number = float(value) if _is_number(value) else math.nan
        except OverflowError:  # a whole number too large for a float
            return INVALID
        if not math.isfinite(number):
            return INVALID
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            return INVALID
        return INVALID if self.high is not None and number > self.high else number


@dataclass(frozen=True)
class Flag:
    """true or false (not 0/1, not a quoted "true")."""

    expected: str = "true or false"

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        return value if isinstance(value, bool) else INVALID


@dataclass(frozen=True)
class Text:
    """A text; non-blank unless `blank`, without any of the `forbidden` characters."""

    blank: bool = False
    forbidden: str = ""

    @property
    def expected(self) -> str:
        """See `Rule`."""
        kind = "a text" if self.blank else "a non-empty text"
        return kind + (f" without {' '.join(self.forbidden)}" if self.forbidden else "")

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        if not isinstance(value, str) or (not self.blank and not value.strip()):
            return INVALID
        return INVALID if any(c in value for c in self.forbidden) else value


@dataclass(frozen=True)
class OneOf:
    """One of the listed values, of the same type (so 1 is not taken for true)."""

    options: tuple[Any, ...]

    @property
    def expected(self) -> str:
        """See `Rule`."""
        words = ["null" if o is None else str(o).lower() if isinstance(o, bool) else str(o)
                 for o in self.options]
        return words[0] if len(words) == 1 else "one of " + ", ".join(words)

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        same = any(type(value) is type(o) and value == o for o in self.options)
        return value if same else INVALID


@dataclass(frozen=True)
class Nullable:
    """A rule's value, or null (with what null means)."""

    rule: Rule
    meaning: str

    @property
    def expected(self) -> str:
        """See `Rule`."""
        return f"{self.rule.expected}, or null ({self.meaning})"

    def read(self, value: Any) -> Any:
        """See `Rule`."""
        return None if value is None else self.rule.read(value)


def check(rule: Rule, value: Any, key: str, problems: list[str], default: Any = None) -> Any:
    """`value` as `rule` reads it; when refused, a problem naming `key`, and `default`."""
    result = rule.read(value)
    if result is INVALID:
        problems.append(f"{key}: expected {rule.expected}, got {shown(value)}")
        return default
    return result


def mapping(value: Any, key: str, problems: list[str], what: str = "a mapping of options"
            ) -> dict[str, Any]:
    """A section that must be a mapping (null or absent reads as empty), keys as text."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f"{key}: expected {what}, got {shown(value)}")
        return {}
    return {str(k): v for k, v in value.items()}


def listing(value: Any, key: str, problems: list[str], what: str) -> list[Any] | None:
    """A value that must be a list; None when refused (reported) or absent."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        problems.append(f"{key}: expected {what}, got {shown(value)}")
        return None
    return list(value)


def unknown(raw: Mapping[str, Any], known: Iterable[str], key: str, problems: list[str]) -> None:
    """Report each key of `raw` that is not `known`, with the nearest known spelling."""
    names = sorted(known)
    for extra in sorted(set(raw) - set(names)):
        near = get_close_matches(extra, names, n=1)
        hint = f"did you mean {near[0]}?" if near else "expected one of " + ", ".join(names)
        problems.append(f"{join(key, extra)}: unknown option; {hint}")


def read_options(raw: Mapping[str, Any], rules: Mapping[str, Rule], key: str,
                 problems: list[str]) -> dict[str, Any]:
    """The options of `raw` that their rules accept, by name; refusals are reported."""
    out = {}
    for name, given in raw.items():  # in the order written
        if name in rules:
            value = check(rules[name], given, join(key, name), problems, INVALID)
            if value is not INVALID:
                out[name] = value
    return out


AMBIGUOUS = set(":.'\"")


def join(key: str, name: str) -> str:
    """The dotted key of option `name` inside `key` (`model` + `cv_folds`). A name a reader
    could not see as typed (empty, blank at either end, with a line break or other control
    character) is shown quoted, so that every problem stays on one line; so is a name
    holding a colon, a dot or a quote, which would blur where the key ends."""
    name = str(name)
    if not name or not name.isprintable() or name.strip() != name or set(name) & AMBIGUOUS:
        name = repr(name)
    return f"{key}.{name}" if key else name

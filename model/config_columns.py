"""The `columns:` and `roles:` sections: the data contract as the configuration declares it.

Options that mean something only for some column types (a minimum on a category, a
monotone direction on an unordered category) are reported rather than ignored, and
each role must name a declared column of the type the jobs rely on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from model.config import COLUMN_TYPES, ROLE_NAMES, Column, Requirement
from model.config_beliefs import BELIEF_TYPES, parse_belief
from model.config_rules import (
    INVALID,
    Flag,
    OneOf,
    Real,
    Rule,
    Text,
    check,
    join,
    listing,
    mapping,
    read_options,
    shown,
    unknown,
)
from model.validation import normalise_level

_NUMERIC = ("number", "integer")
_CATEGORIES = ("category", "open_category", "ordinal")
_COLUMN_RULES: dict[str, Rule] = {
    "type": OneOf(COLUMN_TYPES),
    "required": OneOf((True, False, "labelled", "yes", "no")),
    "feature": Flag(), "min_exclusive": Flag(), "log": Flag(), "actionable": Flag(),
    "label": Text(), "describe": Text(), "describe_one": Text(), "describe_missing": Text(),
    "when_true": Text(), "when_false": Text(),
    "min": Real(), "max": Real(),
    "monotone": OneOf(("increasing", "decreasing", "none", None)),
}
_COLUMN_KEYS = (*_COLUMN_RULES, "values", "aliases", "belief", "levels_describe", "level_labels")
# Set on another type of column, these options would be silently ignored.
_APPLIES_TO: dict[str, tuple[str, ...]] = {
    "values": _CATEGORIES, "aliases": _CATEGORIES,
    "min": _NUMERIC, "max": _NUMERIC, "min_exclusive": _NUMERIC, "log": _NUMERIC,
    "monotone": ("boolean", *_NUMERIC, "ordinal"),
    "when_true": ("boolean",), "when_false": ("boolean",), "belief": BELIEF_TYPES,
    "describe_one": _NUMERIC, "levels_describe": _CATEGORIES, "level_labels": _CATEGORIES,
}
_REQUIREMENT: dict[Any, Requirement] = {True: "yes", "yes": "yes", False: "no", "no": "no",
                                        "labelled": "labelled"}
_MONOTONE = {"increasing": 1, "decreasing": -1, "none": 0, None: 0}
_SEPARATORS = re.compile(r"[\s-]+")  # as model.validation.normalise_level spells levels


class _Level:
    """A category level: a text, or a whole number read as its digits."""

    expected = ("a non-empty text (quote yes, no, on, off and null: YAML reads them as "
                "true, false and null)")

    def read(self, value: Any) -> Any:
        """See `model.config_rules.Rule`."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) and value.strip() else INVALID


def _values(raw: Any, ctype: str, key: str, problems: list[str]) -> tuple[str, ...]:
    key = join(key, "values")
    items = listing(raw, key, problems, "a list of the values the column takes")
    if not items:
        if ctype in ("category", "ordinal") and (raw is None or items == []):
            problems.append(f"{key}: expected the list of values a {ctype} column takes; "
                            "none given")
        return ()
    levels: dict[str, str] = {}
    for i, item in enumerate(items):
        level = check(_Level(), item, f"{key}[{i}]", problems)
        if level is None:
            continue
        spelling = _SEPARATORS.sub("_", level.strip().lower())
        if spelling in levels:
            problems.append(f"{key}[{i}]: expected a value not listed before, got {level!r} "
                            f"(the same as {levels[spelling]!r})")
            continue
        levels[spelling] = level
    return tuple(levels.values())


def _aliases(raw: Any, values: tuple[str, ...], key: str, problems: list[str]) -> dict[str, str]:
    key = join(key, "aliases")
    out = {}
    for alias, target in mapping(raw, key, problems, "a mapping of alias to value").items():
        if not isinstance(target, str) or target not in values:
            problems.append(f"{key}.{alias}: expected one of the column's values "
                            f"({', '.join(values)}), got {shown(target)}")
            continue
        out[alias.strip().lower()] = target
    return out


def _check_options(spec: dict[str, Any], options: dict[str, Any], ctype: str, key: str,
                   problems: list[str]) -> None:
    for option, types in _APPLIES_TO.items():
        if spec.get(option) not in (None, False, "none", [], {}) and ctype not in types:
            problems.append(f"{key}.{option}: expected only on {', '.join(types)} columns "
                            f"(this one is {ctype}), got {shown(spec[option])}")
    low, high = options.get("min"), options.get("max")
    if low is not None and high is not None and (high < low or (high == low and
                                                                 options.get("min_exclusive"))):
        problems.append(f"{key}.max: expected a number above min ({low:g}), got {high:g}")
    if options.get("min_exclusive") and low is None:
        problems.append(f"{key}.min_exclusive: expected only with a min; no min given")
    for option in ("describe", "describe_one"):
        _check_template(options.get(option), f"{key}.{option}", problems)


def _check_template(template: Any, key: str, problems: list[str]) -> None:
    try:
        if template is not None:
            template.format(value="1")
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        problems.append(f"{key}: expected a text in which {{value}} marks the value "
                        f"(write {{{{ and }}}} for a brace), got {shown(template)}")


def _per_level(raw: Any, ctype: str, values: tuple[str, ...], key: str, problems: list[str],
               expected: str, *, strict: bool = True) -> list[tuple[str, str, Any]]:
    """(level, key of the entry, its text) for each entry of a mapping keyed by level. A
    level is spelled as the data's values are read (any case, spaces or '-' for '_'), so
    'HR Tech' names hr_tech; a closed category's must be among its values. `strict` refuses
    a key YAML read as a boolean or null, and two keys naming one level; otherwise (the
    configurations that models already trained hold) such a key reads as text, and of two
    keys naming one level the one spelled as the data's values are wins."""
    declared = {normalise_level(v): v for v in values}
    chosen: dict[str, tuple[str, str, Any]] = {}  # level -> (key as written, where, text)
    entered = mapping(raw, key, problems, expected)  # reports a non-mapping
    for level, text in (raw.items() if entered else ()):  # keys as YAML read them
        where = f"{key}.{level}"
        if strict and (isinstance(level, bool) or level is None):
            problems.append(f"{where}: expected a level (quote yes, no, on, off and null: YAML "
                            "reads them as true, false and null)")
            continue
        spelled = normalise_level(str(level))
        if ctype != "open_category" and spelled not in declared:
            problems.append(f"{where}: expected one of the column's values "
                            f"({', '.join(values)}), got {level!r}")
            continue
        name = declared.get(spelled, spelled)
        if name in chosen and strict:
            problems.append(f"{where}: expected each level once, got {level!r} (the same level "
                            f"as {chosen[name][0]!r})")
        elif name not in chosen or str(level) == name:
            chosen[name] = (str(level), where, text)
    return [(name, where, text) for name, (_, where, text) in chosen.items()]


def _level_wording(raw: Any, ctype: str, values: tuple[str, ...], key: str,
                   problems: list[str]) -> dict[str, str]:
    """`levels_describe`: a level's own wording, a template like `describe`."""
    out = {}
    # Lenient: models trained before keys were read as the data's values hold such keys.
    for level, where, text in _per_level(raw, ctype, values, join(key, "levels_describe"),
                                         problems, "a mapping of level to its wording",
                                         strict=False):
        if check(Text(), text, where, problems) is not None:
            _check_template(text, where, problems)
            out[level] = text
    return out


def _level_labels(raw: Any, ctype: str, values: tuple[str, ...], key: str,
                  problems: list[str]) -> dict[str, str]:
    """`level_labels`: how a level reads on its own, in cells, weak signals and `{value}`
    ('hr_tech' -> 'HR tech')."""
    out = {}
    for level, where, text in _per_level(raw, ctype, values, join(key, "level_labels"),
                                         problems, "a mapping of level to its label"):
        if check(Text(), text, where, problems) is not None:
            out[level] = text.strip()
    return out


def _parse_column(name: str, raw: Any, problems: list[str]) -> Column | None:
    key = f"columns.{name}"
    spec = mapping(raw, key, problems, "a mapping of column options")
    if raw is not None and not isinstance(raw, Mapping):
        return None
    unknown(spec, _COLUMN_KEYS, key, problems)
    options = read_options(spec, _COLUMN_RULES, key, problems)
    ctype = options.get("type")
    if ctype is None:
        if "type" not in spec:
            problems.append(f"{key}.type: expected {_COLUMN_RULES['type'].expected}; none given")
        return None
    _check_options(spec, options, ctype, key, problems)
    values = _values(spec.get("values"), ctype, key, problems)
    return Column(
        name=name, type=ctype, required=_REQUIREMENT[options.get("required", False)],
        feature=options.get("feature", False), label=options.get("label", name), values=values,
        aliases=_aliases(spec.get("aliases"), values, key, problems),
        min=options.get("min"), max=options.get("max"),
        min_exclusive=options.get("min_exclusive", False), log=options.get("log", False),
        monotone=_MONOTONE[options.get("monotone")], actionable=options.get("actionable", False),
        describe=options.get("describe", ""), when_true=options.get("when_true", ""),
        when_false=options.get("when_false", ""), describe_one=options.get("describe_one", ""),
        describe_missing=options.get("describe_missing", ""),
        levels_describe=_level_wording(spec.get("levels_describe"), ctype, values, key, problems),
        level_labels=_level_labels(spec.get("level_labels"), ctype, values, key, problems),
        belief=parse_belief(spec.get("belief"), ctype, _MONOTONE[options.get("monotone")], values,
                            options.get("feature", False), key, problems),
    )


def parse_columns(raw: Any, problems: list[str]) -> dict[str, Column | None]:
    """Every declared column by name (None for one too malformed to build)."""
    table = mapping(raw, "columns", problems, "a mapping of column name to options")
    if not table and (raw is None or isinstance(raw, Mapping)):
        problems.append("columns: expected a mapping of column name to options; none given")
    return {name: _parse_column(name, spec, problems) for name, spec in table.items()}


_ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "id": ("text",), "period": ("period",), "name": ("text",), "label": ("boolean",),
    "impact_value": _NUMERIC, "propensity": ("number",),
}
# Roles every file needs, and the `required` each role's column must have.
_ROLE_REQUIRED: dict[str, tuple[str, ...]] = {
    "id": ("yes",), "period": ("yes", "labelled"), "label": ("yes", "labelled"),
}


def _role_column(role: str, name: str, columns: dict[str, Column | None],
                 problems: list[str]) -> None:
    key = f"roles.{role}"
    if name not in columns:
        problems.append(f"{key}: expected the name of a column declared under columns, got {name!r}")
        return
    column = columns[name]
    if column is None:  # its own problems are reported already
        return
    if column.type not in _ROLE_TYPES[role]:
        problems.append(f"{key}: expected a {' or '.join(_ROLE_TYPES[role])} column, got {name!r} "
                        f"of type {column.type}")
    wanted = _ROLE_REQUIRED.get(role)
    if wanted and column.required not in wanted:
        words = {"yes": "true", "labelled": "labelled"}
        problems.append(f"columns.{name}.required: expected {' or '.join(words[w] for w in wanted)} "
                        f"for the {role} column, got {'false' if column.required == 'no' else 'labelled'}")


def parse_roles(raw: Any, columns: dict[str, Column | None], problems: list[str]) -> dict[str, str]:
    """Role -> column name; each role's column must be declared with a fitting type."""
    table = mapping(raw, "roles", problems, "a mapping of role to column name")
    unknown(table, ROLE_NAMES, "roles", problems)
    roles = {}
    for role in ROLE_NAMES:
        if role not in table:
            if role in _ROLE_REQUIRED:
                problems.append(f"roles.{role}: expected the name of the {role} column; none given")
            continue
        name = check(Text(), table[role], f"roles.{role}", problems)
        if name is not None:
            roles[role] = name
            if columns:
                _role_column(role, name, columns, problems)
    return roles


def check_features(columns: tuple[Column, ...], roles: dict[str, str], problems: list[str]) -> None:
    """At least one feature; no role, text or period column among the features."""
    if columns and not any(c.feature for c in columns):
        problems.append("columns: expected at least one column with feature: true; none has")
    for c in columns:
        if c.feature and c.name in roles.values():
            problems.append(f"columns.{c.name}.feature: expected false for a role column, got true")
        elif c.feature and c.type in ("text", "period"):
            problems.append(f"columns.{c.name}.feature: expected false for a {c.type} column, got true")

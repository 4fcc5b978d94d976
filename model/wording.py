"""Reasons in words: every value a proposal can hold, said in the team's own language.

`describe` words one field's value ("No action plan", "Partner has 1 person",
"Partner sits at the same stage of our customer's journey"): a number takes the
column's singular template (`describe_one`) when it is exactly 1, a category level
its own sentence (`levels_describe`) where the configuration gives one, and its short
label (`level_labels`: 'hr_tech' reads 'HR tech') inside a template or a cell.
`reason_text` and `flag_text` join a proposal's reasons and flags into one line for
files; `evidence_note` and `flag_note` are the sentences a review report shows next
to a reason or a flag. `belief_label` and `belief_sentence` say what the team
believed and what the outcomes made of it; `provisional_note` says how little a
model learned from; `interval_text` words a probability's interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from model.config import Column
from model.features import FeatureSpec
from model.pairs import PairColumn, ProductColumn, cell_key, cell_label, is_pair, level_label


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plain_number(value: float) -> str:
    """A number as explanations write it: '9 000 000', '0.25'."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", " ")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def display_value(column: Column, value: Any) -> Any:
    """The proposal's value as shown to people and in JSON (None when missing); a
    product's two values as one text, 'yes × 2'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(column, ProductColumn):
        shown = [display_value(part, v) for part, v in zip(column.parts, value, strict=True)]
        return cell_key(*("not given" if v is None else "yes" if v is True else
                          "no" if v is False else v for v in shown))
    if column.type == "boolean":
        return bool(value)
    if column.is_numeric:
        return int(value) if float(value).is_integer() else float(value)
    return value


def describe(column: Column, value: Any) -> str:
    """A reason's wording in the team's language: 'No action plan', 'Partner has 1 person'."""
    if isinstance(column, ProductColumn) and value is not None:
        first, second = (describe(part, v) for part, v in zip(column.parts, value, strict=True))
        return f"{first} × {_lower_first(second)}"
    shown = display_value(column, value)
    if shown is None:
        return column.describe_missing or f"{column.label}: not given"
    if column.type == "boolean":
        text = column.when_true if shown else column.when_false
        return text or f"{column.label}: {'yes' if shown else 'no'}"
    template = column.describe or f"{column.label}: {{value}}"
    if column.is_numeric:
        template = (column.describe_one or template) if float(shown) == 1 else template
        shown = plain_number(float(shown))
    elif str(shown) in column.levels_describe:
        template = column.levels_describe[str(shown)]
    elif is_pair(column.name):  # a cell: "Video games × technical integration"
        return cell_label(str(shown), column.parts if isinstance(column, PairColumn) else ())
    return template.format(value=level_label(column, shown))


def describe_values(column: Column, values: list[Any]) -> tuple[list[str], list[Any]]:
    """Wording and shown value for every proposal's value of one field (repeats computed once)."""
    cache: dict[Any, tuple[str, Any]] = {}
    labels, shown = [], []
    for value in values:
        key = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        if key not in cache:
            cache[key] = (describe(column, key), display_value(column, key))
        label, display = cache[key]
        labels.append(label)
        shown.append(display)
    return labels, shown


def _evidence_key(column: Column, value: Any) -> str:
    if _is_missing(value):
        return "missing"
    if column.type == "boolean":
        return "true" if bool(value) else "false"
    return str(value)


def evidence_note(columns: Mapping[str, Column], evidence: Mapping[str, Any], feature: str,
                  value: Any) -> str | None:
    """Past outcomes behind a category or boolean reason, in words; None for numbers.

    e.g. "impact in 13 of 303 past proposals with “No action plan”, 51 of 177 with
    “Has an action plan”".
    """
    counts = evidence.get(feature)
    column = columns.get(feature)
    if not counts or column is None:
        return None
    key = _evidence_key(column, value)
    n, k = counts.get(key, [0, 0])
    this = f"“{describe(column, value)}”"
    if n == 0:
        return f"no past proposal with {this}"
    if column.type == "boolean" and key != "missing":
        other = "false" if key == "true" else "true"
        m, j = counts.get(other, [0, 0])
        that = f"“{describe(column, other == 'true')}”"
        return f"impact in {k} of {n} past proposals with {this}, {j} of {m} with {that}"
    m = sum(c[0] for c in counts.values()) - n
    j = sum(c[1] for c in counts.values()) - k
    return f"impact in {k} of {n} past proposals with {this}, {j} of {m} for all others"


def _range(spec: FeatureSpec | None) -> str:
    if spec is None or not math.isfinite(spec.low):
        return ""
    return f" ({plain_number(spec.low)} to {plain_number(spec.high)})"


def flag_note(columns: Mapping[str, Column], specs: Sequence[FeatureSpec],
              flag: Mapping[str, Any]) -> tuple[str, str]:
    """A short tag and a sentence for a flag from scoring: why to trust the score less."""
    column = columns.get(flag["feature"])
    label = column.label if column else flag["feature"]
    value = flag.get("value")
    if flag["kind"] == "novel_category":
        return (f"{label}: new value",
                f"{label}: “{level_label(column, value)}” never appeared in the training data; "
                "the model treats it like the rare values it grouped as “other”.")
    if flag["kind"] == "outside_training_range":
        return (f"{label}: out of range",
                f"{label}: {plain_number(float(flag['value']))} is outside the values seen in training"
                f"{_range(next((s for s in specs if s.name == flag['feature']), None))}; "
                "the model extrapolates.")
    return (f"{label}: missing",
            f"{label}: not given; the model relies on this field and uses what a missing value "
            "meant in the training data.")


def reason_text(items: Sequence[Mapping[str, Any]]) -> str:
    """'Has an action plan (+5.1 pts); Partner commits 2 FTE (+3.0 pts)'."""
    return "; ".join(f"{i['label']} ({100 * i['points']:+.1f} pts)" for i in items)


def flag_text(flags: Sequence[Mapping[str, Any]]) -> str:
    """'novel_category: partner_sector=agritech; missing: partner_committed_fte'."""
    parts = []
    for f in flags:
        value = f["value"]
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a whole number read as a float prints as one: '=5', not '=5.0'
        shown = "" if value is None else f"={value}"
        parts.append(f"{f['kind']}: {f['feature']}{shown}")
    return "; ".join(parts)


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 proposal', '3 proposals' (`many` defaults to `one` + 's')."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def provisional_note(positives: int) -> str:
    """'provisional: learned from 3 proposals with real impact'."""
    return f"provisional: learned from {plural(positives, 'proposal')} with real impact"


def provisional_advice(positives: int, comfortable: int | None = None) -> str:
    """The sentence shown above a provisional model's scores (with the threshold, when known)."""
    enough = (f", fewer than the {comfortable} that settle a model (comfortable_positives)"
              if comfortable else "")
    return (f"Scores are {provisional_note(positives)}{enough}; treat them as a first estimate "
            "and label more outcomes.")


def percent_text(probability: float) -> str:
    """'12.5%'."""
    return f"{100 * probability:.1f}%"


def interval_text(interval: Sequence[float] | None) -> str:
    """'8.1% to 31.5%', or 'no interval' for a model that gives none."""
    if interval is None:
        return "no interval"
    low, high = interval
    return f"{percent_text(low)} to {percent_text(high)}"


def grade_range_text(grade_interval: Sequence[str] | None) -> str:
    """'C to A': the grades a proposal could have within its interval; '' when the
    interval stays within one grade or the model gives no interval."""
    if grade_interval is None or grade_interval[0] == grade_interval[1]:
        return ""
    low, high = grade_interval
    return f"{low} to {high}"


def _lower_first(label: str) -> str:
    """'Partner headcount' -> 'partner headcount'; an acronym ('FTE share') keeps its case."""
    head = label.split(" ", 1)[0]
    return label if head.isupper() and len(head) > 1 else label[:1].lower() + label[1:]


def belief_subject(column: Column, level: str | None) -> str:
    """What a belief is about: 'Action plan', 'Higher partner headcount', or a level's sentence."""
    if level is not None:
        return f"“{describe(column, level)}”"
    if isinstance(column, ProductColumn):  # 'Action plan with higher partner commitment'
        first, second = (belief_subject(part, None) for part in column.parts)
        return f"{first} with {_lower_first(second)}"
    if column.type == "boolean":
        return column.label
    if column.type == "ordinal" and column.values:
        return f"{column.label} towards “{level_label(column, column.values[-1])}”"
    return f"Higher {_lower_first(column.label)}"


def belief_label(column: Column, level: str | None, direction: int) -> str:
    """'Action plan raises impact', '“Partner sits at the same stage ...” lowers impact'."""
    verb = "raises" if direction > 0 else "lowers" if direction < 0 else "changes"
    return f"{belief_subject(column, level)} {verb} impact"


def belief_sentence(label: str, verdict: str, effect: float, interval: Sequence[float],
                    level: float = 0.9) -> str:
    """'Action plan raises impact: confirmed (+0.62 log-odds: odds ×1.86; 90% interval +0.21
    to +1.05)'. The odds ratio is the same effect in plain words (per typical change)."""
    low, high = interval
    ratio = math.exp(effect)
    odds = f"{ratio:.2f}" if ratio < 10 else f"{ratio:.0f}"
    return (f"{label}: {verdict} ({effect:+.2f} log-odds: odds ×{odds}; {100 * level:.0f}% "
            f"interval {low:+.2f} to {high:+.2f})")

"""The feature schema: a frozen, validated view of the configuration file.

The configuration is the single source of truth for column names, types, allowed
values, human labels and modelling options. This module turns its parsed mapping
into immutable objects and rejects a malformed configuration with every problem
listed at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal[
    "text", "period", "number", "integer", "boolean", "category", "open_category", "ordinal"
]
COLUMN_TYPES: tuple[str, ...] = (
    "text", "period", "number", "integer", "boolean", "category", "open_category", "ordinal",
)
Requirement = Literal["yes", "no", "labelled"]
ROLE_NAMES = ("id", "period", "name", "label", "impact_value", "propensity")


class ConfigError(ValueError):
    """The configuration file itself is malformed; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class Column:
    """One column of the data contract."""

    name: str
    type: ColumnType
    required: Requirement = "no"
    feature: bool = False
    label: str = ""
    values: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    log: bool = False
    monotone: int = 0
    actionable: bool = False
    describe: str = ""
    when_true: str = ""
    when_false: str = ""

    @property
    def is_categorical(self) -> bool:
        """True for the three kinds of category (closed, open, ordinal)."""
        return self.type in ("category", "open_category", "ordinal")

    @property
    def is_numeric(self) -> bool:
        """True for numbers and integers."""
        return self.type in ("number", "integer")

    def required_for(self, labelled: bool) -> bool:
        """Whether a value is mandatory in a labelled file or a file to score."""
        return self.required == "yes" or (self.required == "labelled" and labelled)


@dataclass(frozen=True)
class ModelSettings:
    """Modelling options from the `model:` section."""

    registered_name: str = "partnerscore"
    experiment: str = "partnerscore"
    min_positives: int = 8
    comfortable_positives: int = 50
    rare_level_min_count: int = 5
    cv_folds: int = 5
    cv_repeats: int = 3
    backtest_periods: int = 6
    bootstrap_samples: int = 300
    precision_at_k: int = 5
    propensity_clip: float = 0.2
    candidates: tuple[str, ...] = ("logistic", "boosted_trees")
    logistic_c: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    boosted_trees: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ScoringSettings:
    """Options for presenting scores: grade cut-offs and reasons shown."""

    grades: tuple[tuple[str, float], ...] = (("A", 0.3), ("B", 0.15), ("C", 0.07), ("D", 0.0))
    top_reasons: int = 3

    def grade(self, probability: float) -> str:
        """The grade whose lower bound the probability reaches (grades best first)."""
        for name, lower in self.grades:
            if probability >= lower:
                return name
        return self.grades[-1][0]


@dataclass(frozen=True)
class GateSettings:
    """The promotion gate, from the `gate:` section."""

    log_loss_tolerance: float = 0.02  # nats the challenger may lose on the newest period
    require_auc_overlap: bool = True  # its AUC interval must not sit below the champion's


@dataclass(frozen=True)
class TrackingSettings:
    """Bounded waits on a tracking server, from the `tracking:` section."""

    timeout_seconds: int = 20
    retries: int = 1


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    columns: tuple[Column, ...]
    roles: Mapping[str, str]
    model: ModelSettings
    scoring: ScoringSettings
    gate: GateSettings = field(default_factory=GateSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    digest: str = ""

    @property
    def by_name(self) -> dict[str, Column]:
        """Columns keyed by name."""
        return {c.name: c for c in self.columns}

    @property
    def features(self) -> tuple[Column, ...]:
        """The columns the model learns from, in configuration order."""
        return tuple(c for c in self.columns if c.feature)

    def role(self, role: str) -> str:
        """The column name that plays a role (id, period, label, ...)."""
        return self.roles[role]


_MONOTONE = {"increasing": 1, "decreasing": -1, "none": 0, None: 0}
_COLUMN_KEYS = {
    "type", "required", "feature", "label", "values", "aliases", "min", "max",
    "min_exclusive", "log", "monotone", "actionable", "describe", "when_true", "when_false",
}


def _parse_required(name: str, raw: Any, problems: list[str]) -> Requirement:
    if raw is True or raw == "yes":
        return "yes"
    if raw in (False, None, "no"):
        return "no"
    if raw == "labelled":
        return "labelled"
    problems.append(f"column {name}: required must be true, false or 'labelled', got {raw!r}")
    return "no"


def _parse_column(name: str, spec: Mapping[str, Any], problems: list[str]) -> Column | None:
    if not isinstance(spec, Mapping):
        problems.append(f"column {name}: expected a mapping of options, got {spec!r}")
        return None
    unknown = sorted(set(spec) - _COLUMN_KEYS)
    if unknown:
        problems.append(f"column {name}: unknown option(s) {', '.join(unknown)}")
    ctype = spec.get("type")
    if ctype not in COLUMN_TYPES:
        problems.append(f"column {name}: type must be one of {', '.join(COLUMN_TYPES)}, got {ctype!r}")
        return None
    values = tuple(str(v) for v in spec.get("values") or ())
    if ctype in ("category", "ordinal") and not values:
        problems.append(f"column {name}: a {ctype} needs its list of values")
    aliases = {str(k).strip().lower(): str(v) for k, v in (spec.get("aliases") or {}).items()}
    for alias, target in aliases.items():
        if target not in values:
            problems.append(f"column {name}: alias {alias!r} maps to {target!r}, not a known value")
    monotone = spec.get("monotone")
    if monotone not in _MONOTONE:
        problems.append(f"column {name}: monotone must be increasing, decreasing or none")
        monotone = None
    return Column(
        name=name,
        type=ctype,
        required=_parse_required(name, spec.get("required", False), problems),
        feature=bool(spec.get("feature", False)),
        label=str(spec.get("label") or name),
        values=values,
        aliases=aliases,
        min=None if spec.get("min") is None else float(spec["min"]),
        max=None if spec.get("max") is None else float(spec["max"]),
        min_exclusive=bool(spec.get("min_exclusive", False)),
        log=bool(spec.get("log", False)),
        monotone=_MONOTONE[monotone],
        actionable=bool(spec.get("actionable", False)),
        describe=str(spec.get("describe") or ""),
        when_true=str(spec.get("when_true") or ""),
        when_false=str(spec.get("when_false") or ""),
    )


def _parse_model(raw: Mapping[str, Any], problems: list[str]) -> ModelSettings:
    known = ModelSettings.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        problems.append(f"model: unknown option(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for key in ("candidates", "logistic_c", "boosted_trees"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    settings = ModelSettings(**kwargs)
    bad = set(settings.candidates) - {"logistic", "boosted_trees"}
    if bad or not settings.candidates:
        problems.append("model: candidates must be a non-empty list of logistic, boosted_trees")
    if settings.min_positives < 2:
        problems.append("model: min_positives must be at least 2")
    if not 0 < settings.propensity_clip <= 1:
        problems.append("model: propensity_clip must be in (0, 1]")
    return settings


def _parse_scoring(raw: Mapping[str, Any], problems: list[str]) -> ScoringSettings:
    grades_raw = raw.get("grades") or {"A": 0.3, "B": 0.15, "C": 0.07, "D": 0.0}
    grades = tuple(sorted(((str(k), float(v)) for k, v in grades_raw.items()),
                          key=lambda kv: -kv[1]))
    if grades[-1][1] > 0:
        problems.append("scoring: the lowest grade must start at 0")
    return ScoringSettings(grades=grades, top_reasons=int(raw.get("top_reasons", 3)))


def parse_config(raw: Mapping[str, Any], digest: str = "") -> Config:
    """Validate a parsed configuration mapping and freeze it.

    Raises:
        ConfigError: with every problem found.
    """
    problems: list[str] = []
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, Mapping) or not columns_raw:
        raise ConfigError(["columns: expected a mapping of column name to options"])
    parsed = [_parse_column(str(n), s, problems) for n, s in columns_raw.items()]
    columns = tuple(c for c in parsed if c is not None)
    roles = {str(k): str(v) for k, v in (raw.get("roles") or {}).items()}
    names = {c.name for c in columns}
    for role in ("id", "period", "label"):
        if role not in roles:
            problems.append(f"roles: the {role} column must be named")
    for role, col in roles.items():
        if role not in ROLE_NAMES:
            problems.append(f"roles: unknown role {role!r}")
        elif col not in names:
            problems.append(f"roles: {role} names column {col!r}, which is not declared")
    if not any(c.feature for c in columns):
        problems.append("columns: at least one column must be a feature")
    for c in columns:
        if c.feature and c.name in roles.values():
            problems.append(f"column {c.name}: a role column cannot be a feature")
        if c.feature and c.type in ("text", "period"):
            problems.append(f"column {c.name}: text and period columns cannot be features")
    model = _parse_model(raw.get("model") or {}, problems)
    scoring = _parse_scoring(raw.get("scoring") or {}, problems)
    gate = _parse_section(GateSettings, "gate", raw.get("gate") or {}, problems)
    tracking = _parse_section(TrackingSettings, "tracking", raw.get("tracking") or {}, problems)
    if problems:
        raise ConfigError(problems)
    return Config(columns=columns, roles=roles, model=model, scoring=scoring, gate=gate,
                  tracking=tracking, digest=digest)


def _parse_section(cls: type[Any], name: str, raw: Mapping[str, Any], problems: list[str]) -> Any:
    known = cls.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        problems.append(f"{name}: unknown option(s) {', '.join(unknown)}")
    return cls(**{k: v for k, v in raw.items() if k in known})

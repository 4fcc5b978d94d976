"""The feature schema: a frozen, validated view of the configuration file.

The configuration is the single source of truth for column names, types, allowed
values, human labels and modelling options. This module turns its parsed mapping
into immutable objects and rejects a malformed configuration with every problem
listed at once, each naming its dotted key (`model.boosted_trees[1].max_depth`,
`columns.partner_committed_fte.min`) and the value expected. The columns and roles
are checked in `model.config_columns` (a column's `belief:` in `model.config_beliefs`);
the value rules live in `model.config_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from model.config_decide import DecideSettings, parse_decide
from model.config_rules import (
    Flag,
    OneOf,
    Real,
    Rule,
    Whole,
    check,
    mapping,
    read_options,
    shown,
    unknown,
)

if TYPE_CHECKING:
    from model.beliefs import Belief
    from model.surprises import SurpriseSettings

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

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" {source}" if source else ""
        super().__init__(f"invalid configuration{where}:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class ColumnBelief:
    """How sure the team is of a feature's `monotone` direction, or which category levels help.

    From the column's `belief:` option; None means the default of `model.beliefs`
    (`moderate`, an effect of 0.5 log-odds per typical change). `levels` maps a category
    level to +1 (favourable) or -1 (unfavourable); `strict` makes the direction a hard
    constraint.
    """

    strength: str | float | None = None
    effect: float | None = None
    strict: bool = False
    levels: Mapping[str, int] = field(default_factory=dict)


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
    describe_one: str = ""  # `describe` for a number equal to 1: "Partner has {value} person"
    describe_missing: str = ""  # the reason when the value is not given (default "LABEL: not given")
    levels_describe: Mapping[str, str] = field(default_factory=dict)  # level -> its own wording
    level_labels: Mapping[str, str] = field(default_factory=dict)  # level -> how it reads alone
    belief: ColumnBelief = field(default_factory=ColumnBelief)

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
    # Where 1 / propensity weights apply: fit, evaluation or none. None captured the most
    # real impact in every scenario of bench/results/selection_bias.md.
    propensity_weights: str = "none"
    candidates: tuple[str, ...] = ("bayes_logistic", "boosted_trees")
    logistic_c: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    boosted_trees: tuple[Mapping[str, Any], ...] = (
        {"learning_rate": 0.05, "max_iter": 150, "max_depth": 3, "min_samples_leaf": 20,
         "l2_regularization": 1.0},
        {"learning_rate": 0.05, "max_iter": 300, "max_depth": 2, "min_samples_leaf": 20,
         "l2_regularization": 1.0, "max_features": 0.5},
    )
    n_jobs: int | None = None  # processes for cross-validation and candidates; None: all cores
    interval_level: float = 0.9  # of each proposal's probability interval and each verdict
    model_error_sd: float = 0.3  # log-odds a linear model is off whatever the data (model.bayes)


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

    def grade_interval(self, interval: tuple[float, float] | None) -> tuple[str, str] | None:
        """The grades of a probability interval's ends, (at its low end, at its high end):
        ('C', 'A') where the interval could be read as C or A; None without an interval."""
        if interval is None:
            return None
        return self.grade(interval[0]), self.grade(interval[1])


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


def _default_surprises() -> SurpriseSettings:
    # Imported on use: model.surprises reads this module's Column and Config.
    from model.surprises import SurpriseSettings

    return SurpriseSettings()


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    columns: tuple[Column, ...]
    roles: Mapping[str, str]
    model: ModelSettings
    scoring: ScoringSettings
    gate: GateSettings = field(default_factory=GateSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    surprises: SurpriseSettings = field(default_factory=_default_surprises)
    decide: DecideSettings = field(default_factory=DecideSettings)
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

    @property
    def interactions(self) -> tuple[tuple[str, str], ...]:
        """The pairs of features whose combinations are watched and learned (`interactions:`):
        the pairs of categories, then the products of numbers or booleans."""
        return (*self.surprises.pairs, *self.surprises.products)

    @property
    def feature_labels(self) -> dict[str, str]:
        """Every column's label by name, and each watched pair's or product's label
        ("Partner sector × partnership type"), as reports and model cards name them."""
        from model.pairs import pair_column  # imported on use: model.pairs reads Column

        labels = {c.name: c.label or c.name for c in self.columns}
        columns = self.by_name
        for first, second in self.interactions:
            if first in columns and second in columns:
                column = pair_column(columns[first], columns[second])
                labels[column.name] = column.label
        return labels

    @property
    def beliefs(self) -> tuple[Belief, ...]:
        """The team's beliefs about the features (`model.beliefs.Belief`), from `monotone` and `belief:`."""
        # Imported on use: model.beliefs reads this module's Column.
        from model.beliefs import default_beliefs

        return default_beliefs(self.features)



TOP_LEVEL = ("version", "roles", "columns", "interactions", "model", "gate", "tracking",
             "scoring", "surprises", "decide")



def _grades(raw: Any, problems: list[str]) -> tuple[tuple[str, float], ...]:
    key = "scoring.grades"
    table = mapping(raw, key, problems, "a mapping of grade name to its lowest probability")
    bounds: dict[str, float] = {}
    for name, value in table.items():
        bound = check(Real(0, 1), value, f"{key}.{name}", problems)
        if bound is None:
            continue
        same = [other for other, b in bounds.items() if b == bound]
        if same:
            problems.append(f"{key}.{name}: expected a lower bound no other grade has, got "
                            f"{bound:g} (as {same[0]})")
        bounds[name] = bound
    grades = tuple(sorted(bounds.items(), key=lambda kv: -kv[1]))
    if not table:
        problems.append(f"{key}: expected at least one grade, got {shown(raw)}")
    elif grades and grades[-1][1] > 0:
        problems.append(f"{key}.{grades[-1][0]}: expected 0 for the lowest grade, got "
                        f"{grades[-1][1]:g}")
    return grades


def _parse_scoring(raw: Any, problems: list[str]) -> ScoringSettings:
    section = mapping(raw, "scoring", problems)
    unknown(section, ScoringSettings.__dataclass_fields__, "scoring", problems)
    options: dict[str, Any] = read_options(section, {"top_reasons": Whole(0)}, "scoring", problems)
    if "grades" in section:
        grades = _grades(section["grades"], problems)
        if grades:
            options["grades"] = grades
    return ScoringSettings(**options)


# A negative tolerance asks the challenger to improve on the champion by that much.
_GATE_RULES: dict[str, Rule] = {"log_loss_tolerance": Real(), "require_auc_overlap": Flag()}
# Waits between tries double (0, 2, 4 ... s): more than 10 retries would wait for hours.
_TRACKING_RULES: dict[str, Rule] = {"timeout_seconds": Whole(1, 3600), "retries": Whole(0, 10)}


def _parse_section(cls: type[Any], name: str, raw: Any, rules: dict[str, Rule],
                   problems: list[str]) -> Any:
    section = mapping(raw, name, problems)
    unknown(section, rules, name, problems)
    return cls(**read_options(section, rules, name, problems))


def parse_config(raw: Any, digest: str = "") -> Config:
    """Validate a parsed configuration mapping and freeze it.

    Raises:
        ConfigError: with every problem found, each naming its key and the value expected.
    """
    # Imported here: those modules build this module's dataclasses.
    from model.config_columns import check_features, parse_columns, parse_roles
    from model.config_model import parse_model
    from model.config_surprises import parse_surprises

    if not isinstance(raw, Mapping):
        raise ConfigError([f"configuration: expected a mapping of sections ({', '.join(TOP_LEVEL)}),"
                           f" got {shown(raw)}"])
    problems: list[str] = []
    top = {str(k): v for k, v in raw.items()}
    unknown(top, TOP_LEVEL, "", problems)
    if "version" in top:
        check(OneOf((1,)), top["version"], "version", problems)
    declared = parse_columns(top.get("columns"), problems)
    columns = tuple(c for c in declared.values() if c is not None)
    roles = parse_roles(top.get("roles"), declared, problems)
    check_features(columns, roles, problems)
    model = parse_model(top.get("model"), problems)
    scoring = _parse_scoring(top.get("scoring"), problems)
    gate = _parse_section(GateSettings, "gate", top.get("gate"), _GATE_RULES, problems)
    tracking = _parse_section(TrackingSettings, "tracking", top.get("tracking"), _TRACKING_RULES,
                              problems)
    surprises = parse_surprises(top.get("surprises"), top.get("interactions"), declared,
                                problems, listed="interactions" in top)
    decide = parse_decide(top.get("decide"), problems)
    if problems:
        raise ConfigError(problems)
    return Config(columns=columns, roles=roles, model=model, scoring=scoring, gate=gate,
                  tracking=tracking, surprises=surprises, decide=decide, digest=digest)

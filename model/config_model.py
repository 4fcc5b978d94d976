"""The `model:` section of the configuration: training options and candidate settings.

Every boosted-tree setting is one that `model.estimators` passes through to
scikit-learn's HistGradientBoostingClassifier, typed and bounded here (see
MAX_TREE_DEPTH for why the depth is capped).
"""

from __future__ import annotations

from typing import Any

from model.config import ModelSettings
from model.config_rules import (
    Nullable,
    OneOf,
    Real,
    Rule,
    Text,
    Whole,
    check,
    listing,
    mapping,
    read_options,
    shown,
    unknown,
)

# Where the 1 / acceptance-propensity weights apply: "fit", the model's fits and its
# evaluation (cross-validation, backtest, the gate's comparison); "evaluation", the
# evaluation only; "none", nowhere (bench/results/selection_bias.md measures the three).
PROPENSITY_WEIGHTS = ("fit", "evaluation", "none")
_MODEL_RULES: dict[str, Rule] = {
    # MLflow refuses / and : in a model name, and @ would split a models:/NAME@ALIAS address.
    "registered_name": Text(forbidden="/:@"),
    "experiment": Text(),
    "min_positives": Whole(2),
    "comfortable_positives": Whole(2),
    "rare_level_min_count": Whole(1),
    "cv_folds": Whole(2),
    "cv_repeats": Whole(1),
    "backtest_periods": Whole(1),  # 0 would slice periods[-0:], that is every period
    "bootstrap_samples": Whole(1),
    "precision_at_k": Whole(1),
    "propensity_clip": Real(0, 1, low_open=True),
    "propensity_weights": OneOf(PROPENSITY_WEIGHTS),
    "n_jobs": Nullable(Whole(1, also=(-1,)), "all cores"),
    # A 50% interval says little; 99.9% and beyond rests on the far tails of a Laplace
    # approximation nobody measured there.
    "interval_level": Real(0.5, 0.999),
    # Log-odds; 3 would put almost any probability inside every interval.
    "model_error_sd": Real(0, 3),
}
CANDIDATE_KINDS = ("bayes_logistic", "logistic", "boosted_trees")
_CANDIDATE = OneOf(CANDIDATE_KINDS)
_KINDS = ", ".join(CANDIDATE_KINDS)
_LOGISTIC_C = Real(0, low_open=True)

# Each leaf of a boosted tree is explained by a TreeSHAP table (model/treeshap.py) of
# 2^d x d numbers, d being the distinct features on its path (at most the depth), built
# from a 4^d inclusion matrix. Measured per leaf: depth 8, 2,048 numbers in 0.3 ms;
# depth 10, 10,240 numbers in 2 ms; depth 12, 49,152 numbers, a 134 MB matrix, 80 ms.
# scikit-learn's default depth is unlimited (a 31-leaf tree can reach depth 30), so
# max_depth must be given and at most 8. Leaves per tree (at most 2^8 at that depth) and
# iterations (at most 1,000) are bounded too: together they set the exported model's size.
MAX_TREE_DEPTH = 8
TREE_RULES: dict[str, Rule] = {
    "max_depth": Whole(1, MAX_TREE_DEPTH),
    "learning_rate": Real(0, 1, low_open=True),
    "max_iter": Whole(1, 1000),
    "max_leaf_nodes": Whole(2, 2**MAX_TREE_DEPTH),
    "min_samples_leaf": Whole(1),
    "l2_regularization": Real(0),
    "max_features": Real(0, 1, low_open=True),
    "max_bins": Whole(2, 255),
}
# Set by the estimator itself (model/estimators.py), never by the configuration.
_FIXED_TREE_SETTINGS = {
    "monotonic_cst": "the columns' monotone options", "early_stopping": "off",
    "categorical_features": "none: categories are one-hot encoded",
    "random_state": "the --seed option",
}


def _missing(key: str, rule: Rule, problems: list[str], why: str = "") -> None:
    problems.append(f"{key}: expected {rule.expected}; none given{why}")


def _candidates(raw: Any, problems: list[str]) -> tuple[str, ...] | None:
    key = "model.candidates"
    items = listing(raw, key, problems, f"a list of {_KINDS}")
    if items is None:
        return None
    if not items:
        problems.append(f"{key}: expected at least one of {_KINDS}, got []")
        return None
    chosen = [check(_CANDIDATE, item, f"{key}[{i}]", problems) for i, item in enumerate(items)]
    return tuple(dict.fromkeys(c for c in chosen if c is not None))


def _logistic_c(raw: Any, problems: list[str]) -> tuple[float, ...] | None:
    key = "model.logistic_c"
    items = listing(raw, key, problems, "a list of numbers > 0 (inverse regularisation strengths)")
    if items is None:
        return None
    values = [check(_LOGISTIC_C, item, f"{key}[{i}]", problems) for i, item in enumerate(items)]
    return tuple(v for v in values if v is not None)


def _tree_settings(raw: Any, key: str, problems: list[str]) -> dict[str, Any]:
    entry = mapping(raw, key, problems, "a mapping of HistGradientBoostingClassifier settings")
    for name in sorted(set(entry) & set(_FIXED_TREE_SETTINGS)):
        problems.append(f"{key}.{name}: set by partnerscore ({_FIXED_TREE_SETTINGS[name]}); "
                        f"expected only {', '.join(TREE_RULES)}")
    unknown({k: v for k, v in entry.items() if k not in _FIXED_TREE_SETTINGS}, TREE_RULES, key,
            problems)
    if "max_depth" not in entry:
        _missing(f"{key}.max_depth", TREE_RULES["max_depth"], problems,
                 " (explanation tables grow as 2^depth)")
    return read_options(entry, TREE_RULES, key, problems)


def _boosted_trees(raw: Any, problems: list[str]) -> tuple[dict[str, Any], ...] | None:
    key = "model.boosted_trees"
    items = listing(raw, key, problems, "a list of mappings of tree settings")
    if items is None:
        return None
    return tuple(_tree_settings(item, f"{key}[{i}]", problems) for i, item in enumerate(items))


def parse_model(raw: Any, problems: list[str]) -> ModelSettings:
    """The `model:` section; problems are added to `problems`."""
    section = mapping(raw, "model", problems)
    unknown(section, ModelSettings.__dataclass_fields__, "model", problems)
    options: dict[str, Any] = read_options(section, _MODEL_RULES, "model", problems)
    lists = {"candidates": _candidates(section.get("candidates"), problems),
             "logistic_c": _logistic_c(section.get("logistic_c"), problems),
             "boosted_trees": _boosted_trees(section.get("boosted_trees"), problems)}
    options.update({k: v for k, v in lists.items() if v is not None})
    settings = ModelSettings(**options)
    for family, values in (("logistic", "logistic_c"), ("boosted_trees", "boosted_trees")):
        if family in settings.candidates and values in section and not getattr(settings, values):
            problems.append(f"model.{values}: expected at least one entry while model.candidates "
                            f"includes {family}, got {shown(section[values])}")
    return settings

"""The configuration is checked whole before any command runs.

Each malformed configuration below goes through the real command line: exit status 2,
one report naming the dotted key and the value expected, no traceback and never an
"unexpected error". A property test then throws arbitrary values at every key of the
shipped configuration: the only exception `parse_config` may raise is `ConfigError`.
"""

from __future__ import annotations

import copy
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from model.beliefs import Belief
from model.config import ConfigError, parse_config
from model.config_model import MAX_TREE_DEPTH, TREE_RULES
from model.config_rules import Whole
from pipelines.cli.app import main
from pipelines.settings import default_config_text, load_config, read_config

os.environ.setdefault("OMP_NUM_THREADS", "1")
VALID = Path(__file__).resolve().parent / "corpus" / "valid.csv"
SHIPPED: dict[str, Any] = yaml.safe_load(default_config_text())
DELETE = object()  # a mutation that removes the key
Path_ = list[str | int]


def _path(dotted: str) -> Path_:
    """`model.boosted_trees[1].max_depth` -> ["model", "boosted_trees", 1, "max_depth"]."""
    parts: Path_ = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        parts.append(int(index) if index else name)
    return parts


def mutated(changes: dict[str, Any]) -> dict[str, Any]:
    """The shipped configuration with each dotted key set to a value (or removed)."""
    raw = copy.deepcopy(SHIPPED)
    for dotted, value in changes.items():
        *parents, last = _path(dotted)
        node: Any = raw
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return raw


def _flat(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(argv)
        raise SystemExit(0)
    return int(stop.value.code or 0), _flat(capsys.readouterr().err)


# (mutations, the problem the report must contain)
CASES: list[tuple[dict[str, Any], str]] = [
    ({"model.cv_folds": "five"}, "model.cv_folds: expected a whole number >= 2, got 'five'"),
    ({"model.cv_folds": 2.5}, "model.cv_folds: expected a whole number >= 2, got 2.5"),
    ({"model.cv_folds": True}, "model.cv_folds: expected a whole number >= 2, got True"),
    ({"model.bootstrap_samples": -5}, "model.bootstrap_samples: expected a whole number >= 1, got -5"),
    ({"model.backtest_periods": 0}, "model.backtest_periods: expected a whole number >= 1, got 0"),
    ({"model.min_positives": [8]}, "model.min_positives: expected a whole number >= 2, got [8]"),
    ({"model.propensity_clip": math.nan}, "model.propensity_clip: expected a number > 0 and <= 1, got nan"),
    ({"model.propensity_clip": math.inf}, "model.propensity_clip: expected a number > 0 and <= 1, got inf"),
    ({"model.propensity_clip": 0}, "model.propensity_clip: expected a number > 0 and <= 1, got 0"),
    ({"model.n_jobs": 0}, "model.n_jobs: expected a whole number >= 1 or -1, or null (all cores), got 0"),
    ({"model.n_jobs": -2}, "model.n_jobs: expected a whole number >= 1 or -1, or null (all cores), got -2"),
    ({"model.n_jobs": "all"}, "model.n_jobs: expected a whole number >= 1 or -1"),
    ({"model.registered_name": "team/model"},
     "model.registered_name: expected a non-empty text without / : @"),
    ({"model.registered_name": 42}, "model.registered_name: expected a non-empty text without / : @, got 42"),
    ({"model.experiment": ""}, "model.experiment: expected a non-empty text, got ''"),
    ({"model.candidates": "logistic"},
     "model.candidates: expected a list of bayes_logistic, logistic, boosted_trees, got 'logistic'"),
    ({"model.candidates": ["logistic", "forest"]},
     "model.candidates[1]: expected one of bayes_logistic, logistic, boosted_trees, got 'forest'"),
    ({"model.candidates": []},
     "model.candidates: expected at least one of bayes_logistic, logistic, boosted_trees, got []"),
    ({"model.logistic_c": [0.1, -1]}, "model.logistic_c[1]: expected a number > 0, got -1"),
    ({"model.candidates": ["bayes_logistic", "logistic"], "model.logistic_c": []},
     "model.logistic_c: expected at least one entry while model.candidates includes logistic"),
    ({"model.interval_level": 1.0}, "model.interval_level: expected a number >= 0.5 and <= 0.999, got 1.0"),
    ({"model.interval_level": "90%"},
     "model.interval_level: expected a number >= 0.5 and <= 0.999, got '90%'"),
    ({"model.model_error_sd": -0.5}, "model.model_error_sd: expected a number >= 0 and <= 3, got -0.5"),
    ({"columns.has_action_plan.belief": "strong"},
     "columns.has_action_plan.belief: expected a mapping of belief options (strength, effect, strict, "
     "levels), got 'strong'"),
    ({"columns.has_action_plan.belief": {"strength": "certain"}},
     "columns.has_action_plan.belief.strength: expected one of weak, moderate, strong, or a number > 0 "
     "(the prior standard deviation in log-odds per typical change), got 'certain'"),
    ({"columns.has_action_plan.belief": {"strength": 0}},
     "columns.has_action_plan.belief.strength: expected one of weak, moderate, strong, or a number > 0"),
    ({"columns.has_action_plan.belief": {"effect": -1}},
     "columns.has_action_plan.belief.effect: expected a number > 0, got -1"),
    ({"columns.has_action_plan.belief": {"strict": "yes"}},
     "columns.has_action_plan.belief.strict: expected true or false, got 'yes'"),
    ({"columns.has_action_plan.belief": {"strenght": "weak"}},
     "columns.has_action_plan.belief.strenght: unknown option; did you mean strength?"),
    ({"columns.has_action_plan.belief": {"levels": {"yes": "favourable"}}},
     "columns.has_action_plan.belief.levels: expected only on category, open_category columns (this "
     "one is boolean; state its direction with monotone)"),
    ({"columns.inbound.belief": {"strict": True}},
     "columns.inbound.belief.strict: expected only with monotone: increasing or decreasing (this "
     "column has none), got true"),
    ({"columns.inbound.belief": {"effect": 1.0}},
     "columns.inbound.belief.effect: expected only with monotone: increasing or decreasing"),
    ({"columns.lifecycle_position.belief.levels.midstream": "favourable"},
     "columns.lifecycle_position.belief.levels.midstream: expected one of the column's values "
     "(upstream, downstream, same_stage, unrelated), got 'midstream'"),
    ({"columns.lifecycle_position.belief.levels.upstream": "good"},
     "columns.lifecycle_position.belief.levels.upstream: expected favourable or unfavourable, got 'good'"),
    ({"columns.lifecycle_position.belief.levels": {}},
     "columns.lifecycle_position.belief.levels: expected at least one level, got {}"),
    ({"columns.lifecycle_position.belief": {"strength": "weak"}},
     "columns.lifecycle_position.belief.levels: expected a mapping of level to favourable or "
     "unfavourable for a category column; none given"),
    ({"columns.lifecycle_position.belief.strict": True},
     "columns.lifecycle_position.belief.strict: expected only with monotone: increasing or decreasing "
     "(a category's levels have no order), got true"),
    ({"columns.description.belief": {"strength": "weak"}},
     "columns.description.belief: expected only on boolean, number, integer, ordinal, category, "
     "open_category columns (this one is text)"),
    ({"columns.acceptance_propensity.belief": {"strength": "weak"}},
     "columns.acceptance_propensity.belief: expected only on a feature column (feature: true)"),
    ({"model.boosted_trees[1].max_depth": 12},
     "model.boosted_trees[1].max_depth: expected a whole number from 1 to 8, got 12"),
    ({"model.boosted_trees[0].max_depth": DELETE},
     "model.boosted_trees[0].max_depth: expected a whole number from 1 to 8; none given"),
    ({"model.boosted_trees[0].max_depth": None},
     "model.boosted_trees[0].max_depth: expected a whole number from 1 to 8, got None"),
    ({"model.boosted_trees[0].max_leaf_nodes": 1000},
     "model.boosted_trees[0].max_leaf_nodes: expected a whole number from 2 to 256, got 1000"),
    ({"model.boosted_trees[0].learning_rate": "0.1"},
     "model.boosted_trees[0].learning_rate: expected a number > 0 and <= 1, got '0.1'"),
    ({"model.boosted_trees[0].max_iter": 10**6},
     "model.boosted_trees[0].max_iter: expected a whole number from 1 to 1000"),
    ({"model.boosted_trees[1].max_features": 0},
     "model.boosted_trees[1].max_features: expected a number > 0 and <= 1, got 0"),
    ({"model.boosted_trees[0].max_dept": 3},
     "model.boosted_trees[0].max_dept: unknown option; did you mean max_depth?"),
    ({"model.boosted_trees[0].random_state": 3}, "model.boosted_trees[0].random_state: set by partnerscore"),
    ({"model.boosted_trees[0].monotonic_cst": [1]},
     "model.boosted_trees[0].monotonic_cst: set by partnerscore"),
    ({"model.boosted_trees[0]": [3, 20]},
     "model.boosted_trees[0]: expected a mapping of HistGradientBoostingClassifier settings, got [3, 20]"),
    ({"model.boosted_trees": {"max_depth": 3}},
     "model.boosted_trees: expected a list of mappings of tree settings"),
    ({"model.boosted_trees": []},
     "model.boosted_trees: expected at least one entry while model.candidates includes boosted_trees"),
    ({"model.forest": {"trees": 3}}, "model.forest: unknown option"),
    ({"model": [1, 2]}, "model: expected a mapping of options, got [1, 2]"),
    ({"columns.partner_committed_fte.min": "zero"},
     "columns.partner_committed_fte.min: expected a finite number, got 'zero'"),
    ({"columns.partner_committed_fte.min": [0]},
     "columns.partner_committed_fte.min: expected a finite number, got [0]"),
    ({"columns.partner_committed_fte.max": -1},
     "columns.partner_committed_fte.max: expected a number above min (0), got -1"),
    ({"columns.partner_committed_fte.max": math.inf},
     "columns.partner_committed_fte.max: expected a finite number, got inf"),
    ({"columns.has_action_plan.feature": 1},
     "columns.has_action_plan.feature: expected true or false, got 1"),
    ({"columns.has_action_plan.feature": "yes"},
     "columns.has_action_plan.feature: expected true or false, got 'yes'"),
    ({"columns.has_action_plan.monotone": "up"},
     "columns.has_action_plan.monotone: expected one of increasing, decreasing, none, null, got 'up'"),
    ({"columns.partnership_type.values": "influencer"},
     "columns.partnership_type.values: expected a list of the values the column takes, got 'influencer'"),
    ({"columns.partnership_type.values": []},
     "columns.partnership_type.values: expected the list of values a category column takes; none given"),
    ({"columns.partnership_type.values[1]": True},
     "columns.partnership_type.values[1]: expected a non-empty text (quote yes, no, on, off"),
    ({"columns.partnership_type.values[1]": "Influencer"},
     "columns.partnership_type.values[1]: expected a value not listed before, got 'Influencer'"),
    ({"columns.partnership_type.aliases.webinar": "webinars"},
     "columns.partnership_type.aliases.webinar: expected one of the column's values"),
    ({"columns.partnership_type.aliases": ["webinar"]},
     "columns.partnership_type.aliases: expected a mapping of alias to value"),
    ({"columns.partnership_type.monotone": "increasing"},
     "columns.partnership_type.monotone: expected only on boolean, number, integer, ordinal columns (this "
     "one is category)"),
    ({"columns.partnership_type.describe": "Type: {kind}"},
     "columns.partnership_type.describe: expected a text in which {value} marks the value"),
    ({"columns.partnership_type.type": "enum"},
     "columns.partnership_type.type: expected one of text, period, number"),
    ({"columns.partnership_type.type": DELETE},
     "columns.partnership_type.type: expected one of text, period"),
    ({"columns.inbound.log": True},
     "columns.inbound.log: expected only on number, integer columns (this one is boolean)"),
    ({"columns.acceptance_propensity.min": DELETE},
     "columns.acceptance_propensity.min_exclusive: expected only with a min; no min given"),
    ({"columns.partner_headcount.colour": "red"}, "columns.partner_headcount.colour: unknown option"),
    ({"columns.sector_proximity": "ordinal"},
     "columns.sector_proximity: expected a mapping of column options, got 'ordinal'"),
    ({"columns.description.feature": True},
     "columns.description.feature: expected false for a text column, got true"),
    ({"columns": {}}, "columns: expected a mapping of column name to options; none given"),
    ({"roles.label": "partner_name"},
     "roles.label: expected a boolean column, got 'partner_name' of type text"),
    ({"roles.id": "nope"}, "roles.id: expected the name of a column declared under columns, got 'nope'"),
    ({"roles.period": DELETE}, "roles.period: expected the name of the period column; none given"),
    ({"roles.owner": "partner_name"}, "roles.owner: unknown option"),
    ({"columns.real_impact.required": False},
     "columns.real_impact.required: expected true or labelled for the label column, got false"),
    ({"gate.log_loss_tolerance": "0.02"}, "gate.log_loss_tolerance: expected a finite number, got '0.02'"),
    ({"gate.log_loss_tolerance": 10**400}, "gate.log_loss_tolerance: expected a finite number, got 1000"),
    ({"gate.require_auc_overlap": "yes"}, "gate.require_auc_overlap: expected true or false, got 'yes'"),
    ({"tracking.timeout_seconds": 0},
     "tracking.timeout_seconds: expected a whole number from 1 to 3600, got 0"),
    ({"tracking.timeout_seconds": 1.5},
     "tracking.timeout_seconds: expected a whole number from 1 to 3600, got 1.5"),
    ({"tracking.retries": 100}, "tracking.retries: expected a whole number from 0 to 10, got 100"),
    ({"tracking": "fast"}, "tracking: expected a mapping of options, got 'fast'"),
    ({"scoring.grades": {"A": 0.3, "B": 0.1}}, "scoring.grades.B: expected 0 for the lowest grade, got 0.1"),
    ({"scoring.grades.A": 1.5}, "scoring.grades.A: expected a number >= 0 and <= 1, got 1.5"),
    ({"scoring.grades.B": 0.3},
     "scoring.grades.B: expected a lower bound no other grade has, got 0.3 (as A)"),
    ({"scoring.top_reasons": -1}, "scoring.top_reasons: expected a whole number >= 0, got -1"),
    ({"version": 2}, "version: expected 1, got 2"),
    ({"colums": {}}, "colums: unknown option; did you mean columns?"),
]


@pytest.mark.parametrize(("changes", "problem"), CASES, ids=[next(iter(c)) + f"-{i}" for i, (c, _) in
                                                           enumerate(CASES)])
def test_a_malformed_configuration_exits_2_naming_the_key(
        changes: dict[str, Any], problem: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(mutated(changes)), "utf-8")
    status, err = _run(["--config", str(path), "validate", str(VALID)], capsys)
    assert status == 2, err
    assert err.startswith(f"invalid configuration {path}: - ")
    assert problem in err, err
    assert "Traceback" not in err and "unexpected error" not in err


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = ("model.cv_folds", "model.propensity_clip", "model.registered_name", "model.logistic_c",
            "model.boosted_trees[1].max_depth", "columns.partner_committed_fte.min",
            "columns.has_action_plan.feature", "gate.log_loss_tolerance", "tracking.retries",
            "scoring.top_reasons")
    chosen = [next(case for case in CASES if key in case[0]) for key in keys]
    changes = {key: value for mutation, _ in chosen for key, value in mutation.items()}
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(mutated(changes)), "utf-8")
    status, err = _run(["validate", str(VALID), "--config", str(path)], capsys)
    assert status == 2
    for _, problem in chosen:
        assert problem in err
    assert err.count(" - ") == len(chosen), err


@pytest.mark.parametrize(("text", "problem"), [
    ("- columns\n- roles\n", "configuration: expected a mapping of sections (version, roles, columns"),
    ("", "configuration: expected a mapping of sections"),
    ("columns: [unclosed\n", "expected YAML: while parsing a flow sequence"),
    ("[" * 3000 + "]" * 3000, "expected YAML nested a few levels deep"),
    ("model: !!python/object:os.system {}\n", "expected YAML: could not determine a constructor"),
])
def test_a_file_that_is_not_a_configuration_is_refused(text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"invalid configuration {path}:")
    assert problem in _flat(str(caught.value))


def test_unreadable_and_binary_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x80\x04\x95 pickled")
    with pytest.raises(ConfigError, match="expected UTF-8 text, got byte 0x80 at offset 0"):
        load_config(binary)
    with pytest.raises(ConfigError, match="cannot read the file: No such file or directory"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot read the file: Is a directory"):
        load_config(tmp_path)


def test_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(mutated({"model.boosted_trees[1].max_depth": 30,
                                            "columns.partner_committed_fte.min": "zero"})), "utf-8")
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "validate", str(VALID),
                             "--config", str(path)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    err = _flat(result.stderr)
    assert result.returncode == 2, err
    assert "model.boosted_trees[1].max_depth: expected a whole number from 1 to 8, got 30" in err
    assert "columns.partner_committed_fte.min: expected a finite number, got 'zero'" in err
    assert "Traceback" not in err and result.stdout == ""


def test_a_long_path_is_printed_whole_on_one_line_without_a_terminal(tmp_path: Path) -> None:
    """Error messages in a log or a pipe keep each file path on one line, unbroken, for a
    person to copy or grep; so does the heading of the problem table of a bad data file."""
    deep = tmp_path.joinpath(*(["a-folder-with-a-rather-long-name"] * 4))
    deep.mkdir(parents=True)
    config, data = deep / "team.yaml", deep / "proposals.csv"
    config.write_text(yaml.safe_dump(mutated({"model.cv_folds": "five"})), "utf-8")
    data.write_text("proposal_id\tpartner_name\n1\tx\n", "utf-8")
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    for argv in (["validate", str(VALID), "--config", str(config)], ["validate", str(data)]):
        result = subprocess.run([sys.executable, "-m", "pipelines.cli", *argv],
                                capture_output=True, text=True, timeout=120,
                                env={**environment, "OMP_NUM_THREADS": "1"}, check=False)
        assert result.returncode == 2, result.stderr
        assert len(str(config)) > 150
        lines = [line for line in result.stderr.splitlines() if str(deep) in line]
        assert lines, result.stderr
        assert lines[0] in (f"invalid configuration {config}:", f"{data}: 1 problem")


def test_the_shipped_configuration_reads_as_its_defaults() -> None:
    config, text = read_config(None)
    assert text == default_config_text()
    assert config.model.n_jobs is None
    assert [t["max_depth"] for t in config.model.boosted_trees] == [3, 2]
    assert config.model.boosted_trees == parse_config(mutated({"model.boosted_trees": DELETE})
                                                      ).model.boosted_trees
    assert config.scoring.grades == (("A", 0.3), ("B", 0.15), ("C", 0.07), ("D", 0.0))


def test_the_shipped_model_settings_are_the_schema_defaults() -> None:
    shipped = read_config(None)[0]
    bare = parse_config(mutated({f"model.{key}": DELETE for key in
                                 ("candidates", "interval_level", "model_error_sd")})).model
    assert shipped.model.candidates == bare.candidates == ("bayes_logistic", "boosted_trees")
    assert (shipped.model.interval_level, shipped.model.model_error_sd) == (0.9, 0.3)
    assert (bare.interval_level, bare.model_error_sd) == (0.9, 0.3)
    levels = {b.feature: b.levels for b in shipped.beliefs if b.levels}
    assert levels == {"lifecycle_position": {"upstream": 1, "downstream": 1, "same_stage": -1}}


def test_beliefs_are_read_with_their_options() -> None:
    config = parse_config(mutated({
        "columns.has_action_plan.belief": {"strength": 0.4, "effect": 1.0, "strict": True},
        "columns.inbound.belief": {"strength": "weak"},
        "columns.partner_sector.belief": {"levels": {"Video Games": "favourable"}},
        "columns.lifecycle_position.belief.levels": {"Same stage": "unfavourable"},
        "columns.strategy_fit.monotone": "none",
    }))
    beliefs = {b.feature: b for b in config.beliefs}
    assert beliefs["has_action_plan"] == Belief("has_action_plan", 1, 0.4, {}, True, 1.0)
    assert beliefs["has_clear_objective"] == Belief("has_clear_objective", 1, "moderate", {}, False, 0.5)
    assert beliefs["inbound"] == Belief("inbound", 0, "weak")  # bounds the size, no direction
    assert beliefs["partner_sector"].levels == {"video_games": 1}  # as open categories are read
    assert beliefs["lifecycle_position"].levels == {"same_stage": -1}
    assert "strategy_fit" not in beliefs


@pytest.mark.parametrize(("value", "expected"), [(None, None), (-1, -1), (1, 1), (4, 4)])
def test_n_jobs_accepts_null_minus_one_and_counts(value: int | None, expected: int | None) -> None:
    assert parse_config(mutated({"model.n_jobs": value})).model.n_jobs == expected
    assert parse_config(mutated({})).model.n_jobs is None


def test_the_tree_depth_cap_is_explained_where_teams_read_it() -> None:
    assert f"max_depth (required, a whole number 1-{MAX_TREE_DEPTH})" in _flat(default_config_text())
    assert TREE_RULES["max_depth"] == Whole(1, MAX_TREE_DEPTH)
    deepest = parse_config(mutated({"model.boosted_trees[0].max_depth": MAX_TREE_DEPTH}))
    assert deepest.model.boosted_trees[0]["max_depth"] == MAX_TREE_DEPTH
    with pytest.raises(ConfigError, match=r"max_depth: expected a whole number from 1 to \d+, got"):
        parse_config(mutated({"model.boosted_trees[0].max_depth": MAX_TREE_DEPTH + 1}))


# --- property: arbitrary values anywhere give a ConfigError or a valid configuration --------


def _keys(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        out = [prefix] if prefix else []
        for key, value in node.items():
            out += _keys(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(node, list):
        return [prefix] + [k for i, v in enumerate(node) for k in _keys(v, f"{prefix}[{i}]")]
    return [prefix]


KEYS = _keys(SHIPPED)
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-3, 3), st.text(max_size=3)),
                    max_size=3),
)
PROBLEM = re.compile(r"^.+?: (expected |unknown option; |set by partnerscore )")


@settings(max_examples=400, deadline=None)
@given(keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True),
       values=st.lists(JUNK, min_size=3, max_size=3))
def test_arbitrary_values_anywhere_give_a_configuration_error(keys: list[str], values: list[Any]) -> None:
    changes = dict(zip(sorted(keys, key=len), values, strict=False))
    try:
        raw = mutated(changes)
    except (KeyError, IndexError, TypeError):  # an earlier change replaced a parent key
        return
    try:
        parse_config(raw)
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert PROBLEM.match(problem), problem


@pytest.mark.parametrize("name", ["\n", "", " roles", "tab\there", ":", "a.b", "it's"])
def test_an_unreadable_option_name_is_quoted_so_the_problem_stays_on_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(mutated({"roles": {**SHIPPED["roles"], name: 0}}))
    (problem,) = raised.value.problems
    assert problem == f"roles.{name!r}: unknown option; " + problem.split("; ", 1)[1]
    assert "\n" not in problem and PROBLEM.match(problem)
